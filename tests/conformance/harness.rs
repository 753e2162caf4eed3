//! What every case uses: the runtime under test with a private `--root` and timeouts on
//! every command, bundles holding the runtimetest checker, reading its TAP output,
//! and the `Stop` a case returns to fail or skip.

use std::fs::File;
use std::io::{Read, Seek};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{self, Bundle};

/// Why a case stopped before passing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    Fail(String),
    /// The host lacks something the case needs.
    Skip(String),
}

pub type CaseResult = Result<(), Stop>;

/// Fails the case with a message.
pub fn fail<T>(msg: impl Into<String>) -> Result<T, Stop> {
    Err(Stop::Fail(msg.into()))
}

/// Fails the case unless `cond` holds.
pub fn ensure(cond: bool, msg: impl FnOnce() -> String) -> CaseResult {
    if cond {
        Ok(())
    } else {
        fail(msg())
    }
}

/// Polls `cond` every 10 ms for up to 10 s.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) -> CaseResult {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        if Instant::now() > deadline {
            return fail(format!("timed out after 10 s waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

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

/// A unique container id: cgroups are named after ids, so two runs (of two cases, or
/// of one case against two runtimes) must never share one.
pub fn new_id(case: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "hc-{}-{}-{}",
        case.replace('_', "-"),
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// What a command did.
#[derive(Debug)]
pub struct Out {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(&self) -> bool {
        self.status.success()
    }

    /// The status and stderr, for messages.
    pub fn describe(&self) -> String {
        let err = self.stderr.trim();
        let tail: String = err
            .chars()
            .rev()
            .take(1500)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!(
            "{} {}",
            self.status,
            if tail.is_empty() {
                "(no stderr)".into()
            } else {
                format!("stderr: {tail}")
            }
        )
    }
}

/// Runs a command with stdout and stderr going to files (a container that inherits
/// them may outlive the command, so pipes could hang), killing it after `timeout`.
pub fn exec(mut cmd: Command, timeout: Duration) -> Result<Out, Stop> {
    let sys = |what: &str, e: std::io::Error| Stop::Fail(format!("{what}: {e}"));
    let mut out = tempfile::tempfile().map_err(|e| sys("tempfile", e))?;
    let mut err = tempfile::tempfile().map_err(|e| sys("tempfile", e))?;
    cmd.stdout(out.try_clone().map_err(|e| sys("dup", e))?);
    cmd.stderr(err.try_clone().map_err(|e| sys("dup", e))?);
    let desc = format!("{cmd:?}");
    let mut child = cmd.spawn().map_err(|e| sys(&format!("spawn {desc}"), e))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().map_err(|e| sys("wait", e))? {
            Some(s) => break s,
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                let mut text = String::new();
                let _ = err.rewind().and_then(|()| err.read_to_string(&mut text));
                return fail(format!(
                    "timed out after {timeout:?}: {desc}; stderr: {}",
                    text.trim()
                ));
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    let read = |f: &mut File| {
        let mut s = String::new();
        let mut b = Vec::new();
        if f.rewind().and_then(|()| f.read_to_end(&mut b)).is_ok() {
            s = String::from_utf8_lossy(&b).into_owned();
        }
        s
    };
    Ok(Out {
        status,
        stdout: read(&mut out),
        stderr: read(&mut err),
    })
}

/// The runtime under test, with a private `--root`. Deletes (with --force, under a
/// timeout) every container it made when dropped, whether the case passed or not.
pub struct Rt {
    pub bin: PathBuf,
    pub root: tempfile::TempDir,
    ids: Mutex<Vec<String>>,
}

/// How long one runtime command may take.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(30);

impl Rt {
    pub fn new(bin: &Path) -> Self {
        Rt {
            bin: bin.to_path_buf(),
            root: common::scratch("root"),
            ids: Mutex::new(Vec::new()),
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root")
            .arg(self.root.path())
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// Runs `RUNTIME --root R args…`; remembers the id of create/run for cleanup.
    pub fn run(&self, args: &[&str]) -> Result<Out, Stop> {
        if let (Some(&("create" | "run")), Some(id)) = (args.first(), args.last()) {
            if let Ok(mut ids) = self.ids.lock() {
                ids.push((*id).to_owned());
            }
        }
        exec(self.command(args), CMD_TIMEOUT)
    }

    /// Remembers a container id for cleanup (for commands not made with `run`).
    pub fn remember(&self, id: &str) {
        if let Ok(mut ids) = self.ids.lock() {
            ids.push(id.to_owned());
        }
    }

    /// Like `run`, failing the case unless the command succeeded.
    pub fn ok(&self, args: &[&str]) -> Result<Out, Stop> {
        let out = self.run(args)?;
        if !out.ok() {
            return fail(format!("`{}` failed: {}", args.join(" "), out.describe()));
        }
        Ok(out)
    }

    pub fn create(&self, bundle: &Bundle, id: &str) -> Result<Out, Stop> {
        self.ok(&["create", "--bundle", &bundle.path().to_string_lossy(), id])
    }

    /// The `state` JSON of a container.
    pub fn state(&self, id: &str) -> Result<Value, Stop> {
        let out = self.ok(&["state", id])?;
        serde_json::from_str(&out.stdout)
            .or_else(|e| fail(format!("state is not JSON ({e}): {:?}", out.stdout)))
    }

    /// Polls `state` until the status is `want`, for up to 10 s.
    pub fn wait_status(&self, id: &str, want: &str) -> Result<Value, Stop> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let st = self.state(id)?;
            if st["status"] == want {
                return Ok(st);
            }
            if Instant::now() > deadline {
                return fail(format!(
                    "status still {} after 10 s, waiting for {want}",
                    st["status"]
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the runtime has anything left under its --root for `id`.
    pub fn leftover(&self, id: &str) -> bool {
        self.root.path().join(id).exists()
    }
}

impl Drop for Rt {
    fn drop(&mut self) {
        let mut ids: Vec<String> = self.ids.lock().map(|v| v.clone()).unwrap_or_default();
        if let Ok(rd) = std::fs::read_dir(self.root.path()) {
            ids.extend(
                rd.flatten()
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().into_owned()),
            );
        }
        ids.sort();
        ids.dedup();
        for id in ids {
            let _ = exec(
                self.command(&["delete", "--force", &id]),
                Duration::from_secs(10),
            );
        }
        self.kill_strays();
        // Empty cgroups a failed case left (rmdir fails on a busy one, which is fine).
        for id in self.ids.lock().map(|v| v.clone()).unwrap_or_default() {
            for d in cgroups_named(&id) {
                let _ = std::fs::remove_dir(&d);
            }
        }
    }
}

impl Rt {
    /// Last resort for a runtime under development: a container init that a failed
    /// or hung `delete --force` left alive still runs the runtime's own code, forked
    /// from a command this harness ran, so its cmdline holds this Rt's private
    /// `--root` (a fresh temp dir). Those processes, and only those, get SIGKILL by
    /// pid. (runc's inits exec at once; theirs hold no such cmdline.)
    fn kill_strays(&self) {
        let mut needle = b"--root\0".to_vec();
        needle.extend_from_slice(self.root.path().as_os_str().as_encoded_bytes());
        needle.push(0);
        let Ok(rd) = std::fs::read_dir("/proc") else {
            return;
        };
        for e in rd.flatten() {
            let Some(pid) = e
                .file_name()
                .to_str()
                .and_then(|p| p.parse::<libc::pid_t>().ok())
            else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
                continue;
            };
            if cmdline
                .windows(needle.len())
                .any(|w| w == needle.as_slice())
            {
                eprintln!(
                    "conformance: killing stray runtime process {pid} left under {}",
                    self.root.path().display()
                );
                // SAFETY: kill(2) takes plain integers; the pid was read just now and
                // names a process running this Rt's runtime on this Rt's --root.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
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

/// Cgroup directories named after `id` (where runc, and runtimes like it, put a
/// container without a `cgroupsPath`): /sys/fs/cgroup/<hierarchy>/<id> and
/// /sys/fs/cgroup/<id>.
pub fn cgroups_named(id: &str) -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join(id))
        .collect();
    dirs.push(root.join(id));
    dirs.retain(|d| d.is_dir());
    dirs
}

/// Fails unless `id` left nothing behind: `state` errors, --root has no entry, no
/// cgroup named after it remains.
pub fn nothing_left(rt: &Rt, id: &str) -> CaseResult {
    let cgroups = cgroups_named(id);
    ensure(cgroups.is_empty(), || {
        format!("cgroups left behind: {cgroups:?}")
    })?;
    let st = rt.run(&["state", id])?;
    ensure(!st.ok(), || {
        format!(
            "`state {id}` still works after the failure: {}",
            st.stdout.trim()
        )
    })?;
    ensure(!rt.leftover(id), || {
        format!("{} left behind", rt.root.path().join(id).display())
    })
}

/// Runs a host command, failing the case if it fails.
pub fn host(cmd: &str, args: &[&str]) -> Result<Out, Stop> {
    let mut c = Command::new(cmd);
    c.args(args).stdin(Stdio::null());
    let out = exec(c, CMD_TIMEOUT)?;
    if !out.ok() {
        return fail(format!("{cmd} {args:?}: {}", out.describe()));
    }
    Ok(out)
}
