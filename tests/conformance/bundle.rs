//! Bundles whose process is the runtimetest checker: where the checker comes from,
//! its config and expect.json copies inside the rootfs, judging its TAP output, and
//! small edits of a config.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::common::{self, Bundle};
use crate::harness::{ensure, fail, new_id, nothing_left, CaseResult, Rt, Stop};

/// The runtimetest binary: `$HOIST_RUNTIMETEST`, else `target/release/runtimetest`.
pub fn runtimetest_bin() -> Result<PathBuf, Stop> {
    let p = match std::env::var_os("HOIST_RUNTIMETEST") {
        Some(p) => PathBuf::from(p),
        None => {
            // This test binary is target/<profile>/deps/conformance-<hash>.
            let exe =
                std::env::current_exe().map_err(|e| Stop::Fail(format!("current_exe: {e}")))?;
            let target = exe
                .ancestors()
                .nth(3)
                .map(Path::to_path_buf)
                .unwrap_or_default();
            target.join("release/runtimetest")
        }
    };
    if p.is_file() && std::env::var_os("HOIST_RUNTIMETEST").is_none() {
        if let Some(src) = newer_source(&p) {
            return fail(format!(
                "runtimetest at {} is older than {}: rebuild it with `cargo rustc --release -p runtimetest \
                 --bin runtimetest -- -C target-feature=+crt-static`",
                p.display(),
                src.display()
            ));
        }
    }
    if !p.is_file() {
        return fail(format!(
            "runtimetest missing at {}: build it with `cargo rustc --release -p runtimetest --bin runtimetest \
             -- -C target-feature=+crt-static` (or set HOIST_RUNTIMETEST)",
            p.display()
        ));
    }
    Ok(p)
}

/// A runtimetest source file changed after `bin` was built, if any.
fn newer_source(bin: &Path) -> Option<PathBuf> {
    let built = std::fs::metadata(bin).and_then(|m| m.modified()).ok()?;
    let mut stack = vec![common::workspace().join("tests/runtimetest")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).ok()?.flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if e
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t > built)
            {
                return Some(path);
            }
        }
    }
    None
}

/// The host's namespace inodes by config type (the runtime shares the harness's).
pub fn host_namespaces() -> Value {
    let mut m = serde_json::Map::new();
    for (ty, name) in NS_NAMES {
        if let Ok(meta) = std::fs::metadata(format!("/proc/self/ns/{name}")) {
            m.insert((*ty).to_owned(), json!(meta.ino()));
        }
    }
    Value::Object(m)
}

/// `linux.namespaces` types and their /proc/<pid>/ns names.
pub const NS_NAMES: &[(&str, &str)] = &[
    ("pid", "pid"),
    ("network", "net"),
    ("mount", "mnt"),
    ("ipc", "ipc"),
    ("uts", "uts"),
    ("user", "user"),
    ("cgroup", "cgroup"),
    ("time", "time"),
];

/// Where the checker and its files live inside the rootfs.
pub const CHECKER_DIR: &str = ".runtimetest";
pub const CHECKER: &str = "/.runtimetest/runtimetest";

/// A bundle whose process is the checker: `edit` adjusts the base config, `expect`
/// is merged into expect.json (which always carries the host's namespace inodes).
pub fn checker_bundle(
    case: &str,
    edit: impl FnOnce(&mut Value),
    expect: Value,
) -> Result<Bundle, Stop> {
    let checker = runtimetest_bin()?;
    let mut b = Bundle::new(case, &[CHECKER]);
    edit(&mut b.config);
    let dir = b.rootfs().join(CHECKER_DIR);
    let io = |what: &str, e: std::io::Error| Stop::Fail(format!("{what}: {e}"));
    std::fs::create_dir_all(&dir).map_err(|e| io("mkdir .runtimetest", e))?;
    std::fs::copy(&checker, dir.join("runtimetest")).map_err(|e| io("copy runtimetest", e))?;
    let mut exp = json!({ "host_namespaces": host_namespaces() });
    if let (Some(e), Some(extra)) = (exp.as_object_mut(), expect.as_object()) {
        e.extend(extra.clone());
    }
    write_json(&dir.join("expect.json"), &exp)?;
    seal(&b)?;
    Ok(b)
}

/// Writes config.json to the bundle and its copy beside the checker; call again after
/// changing `b.config`.
pub fn seal(b: &Bundle) -> CaseResult {
    b.write();
    let dir = b.rootfs().join(CHECKER_DIR);
    if dir.is_dir() {
        write_json(&dir.join("config.json"), &b.config)?;
    }
    Ok(())
}

pub fn write_json(path: &Path, v: &Value) -> CaseResult {
    let text = serde_json::to_vec_pretty(v).map_err(|e| Stop::Fail(format!("serialize: {e}")))?;
    std::fs::write(path, text).map_err(|e| Stop::Fail(format!("write {}: {e}", path.display())))
}

/// Judges the checker's TAP output: every line `ok`, and the plan line present (a
/// checker that died half-way prints none).
pub fn judge_tap(stdout: &str) -> CaseResult {
    let failed: Vec<&str> = stdout.lines().filter(|l| l.starts_with("not ok")).collect();
    if !failed.is_empty() {
        return fail(failed.join("\n"));
    }
    ensure(stdout.lines().any(|l| l.starts_with("1..")), || {
        format!(
            "the checker did not finish (no TAP plan); stdout: {:?}",
            stdout.trim()
        )
    })
}

/// Runs the checker bundle in the foreground (`run`) and judges its exit status and
/// TAP output; `run` must also leave nothing behind once the process exited.
pub fn run_checker(rt: &Rt, b: &Bundle, case: &str) -> CaseResult {
    let id = new_id(case);
    let out = rt.run(&["run", "--bundle", &b.path().to_string_lossy(), &id])?;
    if !out.ok() && !out.stdout.contains("1..") {
        return fail(format!("`run` failed: {}", out.describe()));
    }
    judge_tap(&out.stdout)?;
    ensure(out.ok(), || {
        format!(
            "checker passed but `run` exited {}: {}",
            out.status,
            out.describe()
        )
    })?;
    nothing_left(rt, &id)
}

/// Adds or replaces one `linux.namespaces` entry.
pub fn set_namespace(config: &mut Value, ty: &str, path: Option<&str>) {
    let mut entry = json!({ "type": ty });
    if let Some(p) = path {
        entry["path"] = json!(p);
    }
    let list = config["linux"]["namespaces"].as_array_mut();
    match list {
        Some(l) => {
            l.retain(|n| n["type"] != ty);
            l.push(entry);
        }
        None => config["linux"]["namespaces"] = json!([entry]),
    }
}

/// Removes a `linux.namespaces` entry.
pub fn drop_namespace(config: &mut Value, ty: &str) {
    if let Some(l) = config["linux"]["namespaces"].as_array_mut() {
        l.retain(|n| n["type"] != ty);
    }
}

/// Removes the mount at `destination`.
pub fn drop_mount(config: &mut Value, destination: &str) {
    if let Some(l) = config["mounts"].as_array_mut() {
        l.retain(|m| m["destination"] != destination);
    }
}

/// The checker groups to run (expect.json `checks`).
pub fn only(groups: &[&str]) -> Value {
    json!({ "checks": groups })
}
