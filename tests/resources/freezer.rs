//! `pause` and `resume` through the freezer: the state follows, a frozen counter does
//! not advance, and a paused container can still be deleted by force. And `ps`, which
//! callers use to find a container's processes.

use std::fs;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::support::{expect_error, expect_ok, poll, Ctr, SETTLE};

/// A container whose init counts into /count ten times a second.
fn counter(name: &str) -> Ctr {
    let script = "i=0; while :; do i=$((i+1)); echo $i > /count.tmp; mv /count.tmp /count; \
                  sleep 0.1; done";
    Ctr::new(name, &["sh", "-c", script])
}

fn count(rootfs: &Path) -> u64 {
    fs::read_to_string(rootfs.join("count"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Waits until the counter passes `above`.
fn wait_count_above(c: &Ctr, above: u64) -> u64 {
    let root = c.bundle.rootfs();
    poll(SETTLE, || {
        let n = count(&root);
        (n > above).then_some(n)
    })
    .unwrap_or_else(|| panic!("counter stuck at {} (wanted > {above})", count(&root)))
}

#[test]
fn pause_freezes_and_resume_thaws() {
    let c = counter("pause");
    c.launch();
    wait_count_above(&c, 2);

    expect_ok(&c.rt(&["pause", &c.id]));
    assert_eq!(c.status(), "paused");
    assert_eq!(c.cg_read("freezer", "freezer.state"), "FROZEN");
    let frozen_at = count(&c.bundle.rootfs());
    // Five of the counter's periods: a running counter would move by about five.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        count(&c.bundle.rootfs()),
        frozen_at,
        "the counter advanced while paused"
    );
    // Pausing twice is an error (runc: "container not running").
    let again = c.rt(&["pause", &c.id]);
    assert_eq!(again.code, Some(1), "second pause:\n{again}");

    expect_ok(&c.rt(&["resume", &c.id]));
    assert_eq!(c.status(), "running");
    assert_eq!(c.cg_read("freezer", "freezer.state"), "THAWED");
    wait_count_above(&c, frozen_at);
    let again = c.rt(&["resume", &c.id]);
    assert_eq!(
        again.code,
        Some(1),
        "resume of a running container:\n{again}"
    );
    c.delete_force_ok();
}

#[test]
fn delete_force_of_a_paused_container() {
    let c = counter("pause-del");
    c.launch();
    wait_count_above(&c, 0);
    let pid = c.pid();
    expect_ok(&c.rt(&["pause", &c.id]));
    assert_eq!(c.status(), "paused");
    c.delete_force_ok();
    assert!(
        poll(SETTLE, || (!crate::support::alive(pid)).then_some(())).is_some(),
        "init {pid} of the paused container survived delete --force"
    );
}

#[test]
fn pause_of_a_stopped_container_fails() {
    let c = Ctr::new("pause-stopped", &["true"]);
    c.launch();
    c.wait_status("stopped");
    expect_error(&c.rt(&["pause", &c.id]), "not running");
    c.delete_force_ok();
}

#[test]
fn ps_lists_the_init() {
    let c = Ctr::new("ps", &["sleep", "30"]);
    c.launch();
    let pid = c.pid();

    let out = c.rt(&["ps", "--format", "json", &c.id]);
    expect_ok(&out);
    let pids: Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("ps --format json is not JSON ({e}):\n{out}"));
    let arr = pids
        .as_array()
        .unwrap_or_else(|| panic!("ps --format json is not an array: {pids}"));
    assert!(
        arr.iter().any(|p| p.as_i64() == Some(pid)),
        "init {pid} missing from {pids}"
    );

    let out = c.rt(&["ps", &c.id]);
    expect_ok(&out);
    let mut rows = out.stdout.lines();
    let header = rows.next().unwrap_or("");
    assert!(
        header.split_whitespace().any(|f| f == "PID"),
        "table header: {out}"
    );
    assert!(
        rows.any(|r| r.split_whitespace().any(|f| f == pid.to_string()) && r.contains("sleep")),
        "no row for init {pid} (sleep 30):\n{out}"
    );
    c.delete_force_ok();
}
