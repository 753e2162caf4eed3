//! Error cases: bad input gets one clear error, exit status 1, and leaves no state,
//! cgroup or process behind (DESIGN.md rule 5); unknown ids get runc's phrasing.

use serde_json::{json, Value};

use crate::bundle::{seal, set_namespace};
use crate::common::Bundle;
use crate::harness::{ensure, new_id, nothing_left, CaseResult, Rt, Stop};
use crate::lifecycle::bundle_path;
use crate::Case;

pub fn cases() -> Vec<Case> {
    vec![
        Case::new("misc_props_invalid_version", misc_props_invalid_version),
        Case::new("not_exist_errors", not_exist_errors),
        Case::new("create_bad_config", create_bad_config),
        Case::new("create_missing_rootfs", create_missing_rootfs),
        Case::new("create_unknown_namespace", create_unknown_namespace),
        Case::new("linux_ns_path_type", linux_ns_path_type),
        Case::new("process_rlimits_fail", process_rlimits_fail),
        Case::new("process_rlimits_fail_eperm", process_rlimits_fail_eperm)
            .needs(needs_nofile_limit),
        Case::new("process_oom_score_adj_fail", process_oom_score_adj_fail)
            .needs(needs_no_sys_resource),
    ]
}

/// The rest of runtime-tools `misc_props`: an invalid `ociVersion` is an error.
/// Known runc failure: runc 1.1.5 does not validate ociVersion at all.
fn misc_props_invalid_version(rt: &Rt) -> CaseResult {
    expect_create_error(rt, "misc-props-invalid", |c| {
        c["ociVersion"] = json!("invalid")
    })
}

/// Bad input gets exit status 1, an error message, and leaves nothing behind
/// (DESIGN.md rule 5).
fn expect_create_error(rt: &Rt, case: &str, edit: impl FnOnce(&mut Value)) -> CaseResult {
    let mut b = Bundle::new(case, &["true"]);
    edit(&mut b.config);
    seal(&b)?;
    let id = new_id(case);
    let out = rt.run(&["create", "--bundle", &bundle_path(&b), &id])?;
    ensure(!out.ok(), || "create worked".into())?;
    ensure(out.status.code() == Some(1), || {
        format!("exit status {}, expected 1", out.status)
    })?;
    ensure(!out.stderr.trim().is_empty(), || {
        "no error message on stderr".into()
    })?;
    nothing_left(rt, &id)
}

/// state/kill/delete/start of an unknown id fail with runc's phrase "does not exist"
/// (engines match it).
fn not_exist_errors(rt: &Rt) -> CaseResult {
    let id = new_id("nonexistent");
    for args in [
        vec!["state", &id],
        vec!["kill", &id, "KILL"],
        vec!["delete", &id],
        vec!["start", &id],
    ] {
        let out = rt.run(&args)?;
        ensure(!out.ok(), || format!("`{}` worked", args.join(" ")))?;
        ensure(out.stderr.contains("does not exist"), || {
            format!(
                "`{}` stderr lacks \"does not exist\": {:?}",
                args.join(" "),
                out.stderr
            )
        })?;
    }
    Ok(())
}

fn create_bad_config(rt: &Rt) -> CaseResult {
    let b = Bundle::new("bad-config", &["true"]);
    std::fs::write(
        b.path().join("config.json"),
        "{\"ociVersion\": \"1.2.0\", \"process\": ",
    )
    .map_err(|e| Stop::Fail(format!("write config: {e}")))?;
    let id = new_id("bad-config");
    let out = rt.run(&["create", "--bundle", &bundle_path(&b), &id])?;
    ensure(out.status.code() == Some(1), || {
        format!("exit status {}, expected 1", out.status)
    })?;
    ensure(!out.stderr.trim().is_empty(), || {
        "no error message on stderr".into()
    })?;
    nothing_left(rt, &id)
}

fn create_missing_rootfs(rt: &Rt) -> CaseResult {
    expect_create_error(rt, "missing-rootfs", |c| {
        c["root"]["path"] = json!("no-such-rootfs")
    })
}

fn create_unknown_namespace(rt: &Rt) -> CaseResult {
    expect_create_error(rt, "unknown-ns", |c| set_namespace(c, "hoistns", None))
}

/// runtime-tools `linux_ns_path_type`: a namespace path of another type is an error.
fn linux_ns_path_type(rt: &Rt) -> CaseResult {
    expect_create_error(rt, "ns-path-type", |c| {
        set_namespace(c, "network", Some("/proc/self/ns/ipc"))
    })
}

/// runtime-tools `process_rlimits_fail`: an rlimit type with no kernel resource is
/// an error.
fn process_rlimits_fail(rt: &Rt) -> CaseResult {
    expect_create_error(rt, "rlimits-fail", |c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_HOIST", "soft": 1024, "hard": 1024}]);
    })
}

/// A hard limit above the runtime's own cannot be set without CAP_SYS_RESOURCE (which
/// root here lacks, HOST.md): create fails cleanly instead of starting the container
/// with other limits.
fn process_rlimits_fail_eperm(rt: &Rt) -> CaseResult {
    let over = nofile_hard().map_err(Stop::Fail)?.saturating_add(1);
    expect_create_error(rt, "rlimits-eperm", |c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": over, "hard": over}]);
    })
}

/// The harness's RLIMIT_NOFILE hard limit (`None` in the error when unlimited).
fn nofile_hard() -> Result<u64, String> {
    let limits =
        std::fs::read_to_string("/proc/self/limits").map_err(|e| format!("limits: {e}"))?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap_or_default();
    let hard = line.split_whitespace().nth(4).unwrap_or_default();
    hard.parse()
        .map_err(|e| format!("Max open files hard limit {hard:?}: {e}"))
}

fn has_sys_resource() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map_or("0", str::trim);
    u64::from_str_radix(eff, 16).unwrap_or(0) & (1 << 24) != 0
}

/// For the cases that need the runtime to lack CAP_SYS_RESOURCE.
pub fn needs_no_sys_resource() -> Option<String> {
    has_sys_resource()
        .then(|| "the harness has CAP_SYS_RESOURCE, so the runtime could do it".into())
}

fn needs_nofile_limit() -> Option<String> {
    needs_no_sys_resource().or_else(|| {
        nofile_hard()
            .err()
            .map(|e| format!("no finite RLIMIT_NOFILE to exceed ({e})"))
    })
}

/// A negative oomScoreAdj needs CAP_SYS_RESOURCE, which root here lacks (HOST.md):
/// create must fail cleanly, not start a container with the wrong score.
fn process_oom_score_adj_fail(rt: &Rt) -> CaseResult {
    expect_create_error(rt, "oom-fail", |c| {
        c["process"]["oomScoreAdj"] = json!(-500)
    })
}
