//! linux.resources.devices through the v1 devices controller: runc's default spec
//! denies everything but the standard nodes, an allow rule opens a device, and a later
//! deny rule closes it again (the last matching rule wins).
//!
//! The container mknods block device 8:0 (CAP_MKNOD, and mknod itself is allowed by
//! the default `b *:* m`). This host has no 8:0 disk, so a read the device cgroup lets
//! through fails with ENXIO ("No such device or address") rather than EPERM: the
//! device cgroup is checked before the disk is looked up.

use serde_json::{json, Value};

use crate::support::Ctr;

/// The script every case runs; its output says what the device cgroup allowed.
pub const SCRIPT: &str = "mknod /dev/blk b 8 0 || echo mknod-failed; \
     head -c1 /dev/null && echo null-ok; \
     head -c1 /dev/blk 2>&1; echo done";

pub const DENIED: &str = "Operation not permitted";

/// A container with CAP_MKNOD running `SCRIPT` under `rules`.
fn device_ctr(name: &str, rules: Value) -> Ctr {
    device_ctr_with(Ctr::new(name, &["true"]), rules)
}

/// `c` made to run `SCRIPT` with CAP_MKNOD under `rules`.
pub fn device_ctr_with(mut c: Ctr, rules: Value) -> Ctr {
    c.config()["process"]["args"] = json!(["sh", "-c", SCRIPT]);
    c.config()["linux"]["resources"]["devices"] = rules;
    c.add_caps(&["CAP_MKNOD"]);
    c
}

/// Runs the container to its end; its output.
pub fn run_script(c: &Ctr) -> String {
    let out = c.run();
    assert_eq!(out.code, Some(0), "{out}");
    assert!(!out.stdout.contains("mknod-failed"), "{out}");
    assert!(
        out.stdout.contains("null-ok"),
        "/dev/null must stay readable: {out}"
    );
    out.stdout
}

#[test]
fn default_deny_blocks_a_mknod_device() {
    let c = device_ctr("dev-deny", json!([{"allow": false, "access": "rwm"}]));
    let out = run_script(&c);
    assert!(
        out.contains(&format!("/dev/blk: {DENIED}")),
        "reading b 8:0 under deny-all: {out}"
    );
    c.assert_gone();
}

#[test]
fn allow_rule_opens_the_device() {
    let c = device_ctr(
        "dev-allow",
        json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "b", "major": 8, "minor": 0, "access": "r"}
        ]),
    );
    let out = run_script(&c);
    assert!(
        !out.contains(DENIED),
        "b 8:0 r is allowed, yet reading it was refused: {out}"
    );
    c.assert_gone();
}

#[test]
fn later_deny_rule_wins_over_an_allow() {
    let c = device_ctr(
        "dev-redeny",
        json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "b", "major": 8, "minor": 0, "access": "r"},
            {"allow": false, "type": "b", "major": 8, "minor": 0, "access": "r"}
        ]),
    );
    let out = run_script(&c);
    assert!(
        out.contains(&format!("/dev/blk: {DENIED}")),
        "a deny after the allow must win: {out}"
    );
    c.assert_gone();
}

/// v1 only: the rules land in the container's devices.list.
#[test]
fn devices_list_shows_the_rules() {
    let mut c = Ctr::new("dev-list", &["sleep", "30"]);
    c.config()["linux"]["resources"]["devices"] = json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "b", "major": 8, "minor": 0, "access": "r"}
    ]);
    c.write();
    c.create_ok();
    let list = c.cg_read("devices", "devices.list");
    let lines: Vec<&str> = list.lines().collect();
    assert!(
        !lines.contains(&"a *:* rwm"),
        "deny-all not applied: {list}"
    );
    for want in ["b 8:0 r", "c 1:3 rwm", "c 1:5 rwm", "c 136:* rwm"] {
        assert!(
            lines.contains(&want),
            "{want:?} missing from devices.list:\n{list}"
        );
    }
    c.delete_force_ok();
}
