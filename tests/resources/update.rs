//! `update`: new limits for a running container from runc's flags or from a
//! linux.resources JSON on stdin, refused for a stopped container, and remembered in
//! the container's stored config (so a second update merges with the first).

use std::fs::File;

use serde_json::{json, Value};

use crate::support::{exec, expect_error, expect_ok, is_runc, read, rt_cmd, Ctr};

const MIB: u64 = 1 << 20;

#[test]
fn update_flags_change_the_cgroup_files() {
    let c = Ctr::new("upd-flags", &["sleep", "30"]);
    c.launch();
    expect_ok(&c.rt(&["update", "--memory", "64m", "--pids-limit", "50", &c.id]));
    assert_eq!(
        c.cg_read("memory", "memory.limit_in_bytes"),
        (64 * MIB).to_string()
    );
    assert_eq!(c.cg_read("pids", "pids.max"), "50");

    expect_ok(&c.rt(&[
        "update",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "100000",
        "--cpuset-cpus",
        "0",
        &c.id,
    ]));
    assert_eq!(c.cg_read("cpu", "cpu.cfs_quota_us"), "20000");
    assert_eq!(c.cg_read("cpu", "cpu.cfs_period_us"), "100000");
    assert_eq!(c.cg_read("cpuset", "cpuset.cpus"), "0");
    // The first update's values stay.
    assert_eq!(c.cg_read("pids", "pids.max"), "50");
    assert_eq!(c.status(), "running");
    c.delete_force_ok();
}

/// runc spells it `--cpu-share` (singular); callers of runc's dialect pass that.
#[test]
fn update_cpu_share_flag_as_runc_spells_it() {
    let c = Ctr::new("upd-share", &["sleep", "30"]);
    c.launch();
    expect_ok(&c.rt(&["update", "--cpu-share", "512", &c.id]));
    assert_eq!(c.cg_read("cpu", "cpu.shares"), "512");
    c.delete_force_ok();
}

#[test]
fn update_resources_from_stdin() {
    let c = Ctr::new("upd-stdin", &["sleep", "30"]);
    c.launch();
    let json = json!({
        "memory": {"limit": 48 * MIB},
        "pids": {"limit": 30},
        "cpu": {"shares": 256}
    });
    // stdin from a file: `exec` bounds the call in time and keeps its output.
    let input = c.io.path().join("resources.json");
    std::fs::write(&input, json.to_string()).expect("write resources.json");
    let mut cmd = rt_cmd(&c.rt, &["update", "--resources", "-", &c.id]);
    cmd.stdin(File::open(&input).expect("open resources.json"));
    expect_ok(&exec(cmd, None));
    assert_eq!(
        c.cg_read("memory", "memory.limit_in_bytes"),
        (48 * MIB).to_string()
    );
    assert_eq!(c.cg_read("pids", "pids.max"), "30");
    assert_eq!(c.cg_read("cpu", "cpu.shares"), "256");
    c.delete_force_ok();
}

#[test]
fn update_of_a_stopped_container_fails() {
    let c = Ctr::new("upd-stopped", &["true"]);
    c.launch();
    c.wait_status("stopped");
    let out = c.rt(&["update", "--memory", "64m", &c.id]);
    expect_error(&out, "not running");
    c.delete_force_ok();
}

/// The memory and pids limits in hoist-runtime's stored config (the OCI config in
/// state.json, which `exec` and later updates read).
fn stored(state: &Value) -> (Option<u64>, Option<i64>) {
    let r = &state["config"]["linux"]["resources"];
    (r["memory"]["limit"].as_u64(), r["pids"]["limit"].as_i64())
}

#[test]
fn updates_merge_into_the_stored_config() {
    let mut c = Ctr::new("upd-merge", &["sleep", "30"]);
    c.config()["linux"]["resources"]["pids"] = json!({"limit": 100});
    c.write();
    c.launch();
    let state_file = c.rt.root.path().join(&c.id).join("state.json");
    let load =
        || -> Value { serde_json::from_str(&read(&state_file)).expect("state.json is JSON") };

    // runc keeps a libcontainer config instead, and its `update` without
    // --pids-limit stores 0 there (the flag's default): only the cgroup is compared.
    let hoist = !is_runc();

    expect_ok(&c.rt(&["update", "--memory", "64m", &c.id]));
    if hoist {
        assert_eq!(
            stored(&load()),
            (Some(64 * MIB), Some(100)),
            "after --memory"
        );
    }
    expect_ok(&c.rt(&["update", "--pids-limit", "40", &c.id]));
    if hoist {
        assert_eq!(
            stored(&load()),
            (Some(64 * MIB), Some(40)),
            "a second update must keep the first one's memory limit"
        );
    }
    assert_eq!(
        c.cg_read("memory", "memory.limit_in_bytes"),
        (64 * MIB).to_string()
    );
    assert_eq!(c.cg_read("pids", "pids.max"), "40");
    c.delete_force_ok();
}
