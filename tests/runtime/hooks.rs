//! OCI hooks: every kind runs, in order, with the state JSON on stdin; a failing or
//! timed-out create-time hook fails `create` and leaves nothing behind.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::scratch;
use crate::support::{expect_error, expect_ok, poll, Ctr, SETTLE};

/// A hook that saves its stdin as `<dir>/<name>.json`, its mount namespace as
/// `<dir>/<name>.mnt`, and appends `name` to `<dir>/order`. `dir` is as the hook
/// sees it.
fn recorder(dir: &str, name: &str) -> Value {
    slow_recorder(dir, name, "0")
}

/// A recorder that first sleeps `secs`: a runtime must wait for it all the same.
fn slow_recorder(dir: &str, name: &str, secs: &str) -> Value {
    let script = format!(
        "sleep {secs}; cat > {dir}/{name}.json \
         && readlink /proc/self/ns/mnt > {dir}/{name}.mnt && echo {name} >> {dir}/order"
    );
    json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", script],
        "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
    })
}

fn mnt_ns(pid: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/mnt"))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|e| panic!("mount namespace of {pid}: {e}"))
}

fn order(dir: &std::path::Path) -> Vec<String> {
    fs::read_to_string(dir.join("order"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn all_hooks_run_in_order_with_state_on_stdin() {
    let mut c = Ctr::new("hooks", &["sleep", "30"]);
    let rec = scratch("hooks");
    fs::set_permissions(rec.path(), fs::Permissions::from_mode(0o777)).expect("chmod");
    let host = rec.path().to_str().expect("utf-8 path").to_string();
    let cfg = c.config();
    cfg["mounts"].as_array_mut().expect("mounts").push(
        json!({"destination": "/hooks", "type": "bind", "source": host,
                     "options": ["rbind", "rw"]}),
    );
    // createContainer runs in the container's mount namespace before pivot_root, its
    // path resolving in the runtime's: host paths still work. startContainer's path
    // resolves in the container: the busybox sh, writing to the bind mount. It takes
    // its time, and poststart must still come after it: poststart runs once the
    // container's process has been exec'd, which is after startContainer.
    cfg["hooks"] = json!({
        "prestart": [recorder(&host, "prestart")],
        "createRuntime": [recorder(&host, "createRuntime")],
        "createContainer": [recorder(&host, "createContainer")],
        "startContainer": [slow_recorder("/hooks", "startContainer", "0.3")],
        "poststart": [recorder(&host, "poststart")],
        "poststop": [recorder(&host, "poststop")]
    });
    c.write();

    c.create_ok();
    let host_mnt = mnt_ns("self");
    let ctr_mnt = mnt_ns(&c.pid().to_string());
    assert_eq!(
        order(rec.path()),
        ["prestart", "createRuntime", "createContainer"],
        "hooks run by create"
    );
    c.start_ok();
    let want_started = [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
    ];
    let got = poll(SETTLE, || {
        let o = order(rec.path());
        (o.len() >= want_started.len()).then_some(o)
    });
    assert_eq!(
        got.unwrap_or_else(|| order(rec.path())),
        want_started,
        "hooks after start"
    );
    assert_eq!(c.status(), "running");

    expect_ok(&c.rt(&["kill", &c.id, "KILL"]));
    c.wait_status("stopped");
    expect_ok(&c.rt(&["delete", &c.id]));
    let mut want_all = want_started.to_vec();
    want_all.push("poststop");
    assert_eq!(order(rec.path()), want_all, "hooks after delete");

    for name in &want_all {
        let file = rec.path().join(format!("{name}.json"));
        let text = fs::read_to_string(&file).unwrap_or_default();
        let st: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{name} hook stdin is not state JSON ({e}): {text:?}"));
        assert_eq!(st["id"], c.id.as_str(), "{name}: {st}");
        assert_eq!(st["bundle"], c.bundle_str(), "{name}: {st}");
        assert!(st["ociVersion"].is_string(), "{name}: {st}");
        let mnt = fs::read_to_string(rec.path().join(format!("{name}.mnt"))).unwrap_or_default();
        let want = if ["createContainer", "startContainer"].contains(name) {
            &ctr_mnt
        } else {
            &host_mnt
        };
        assert_eq!(mnt.trim(), want, "mount namespace of the {name} hook");
        if *name != "poststop" {
            assert!(
                st["pid"].as_i64().unwrap_or(0) > 0,
                "{name} without pid: {st}"
            );
        }
    }
    c.assert_gone();
}

#[test]
fn failing_prestart_hook_fails_create() {
    let mut c = Ctr::new("hookfail", &["sleep", "30"]);
    c.config()["hooks"] = json!({
        "prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}]
    });
    c.write();
    expect_error(&c.create(), "hook");
    c.assert_failed_create_left_nothing();
}

#[test]
fn hook_timeout_fails_create() {
    let mut c = Ctr::new("hooktimeout", &["sleep", "30"]);
    let marker = c.id.clone();
    c.config()["hooks"] = json!({
        "createRuntime": [{"path": "/bin/sh",
                           "args": ["sh", "-c", format!("sleep 5; : {marker}")],
                           "timeout": 1}]
    });
    c.write();
    let t0 = Instant::now();
    let out = c.create();
    let took = t0.elapsed();
    expect_error(&out, "hook");
    assert!(
        took < Duration::from_millis(4500),
        "create waited {took:?} for a hook with a 1 s timeout"
    );
    c.assert_failed_create_left_nothing();
}
