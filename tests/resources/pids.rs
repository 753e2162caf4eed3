//! linux.resources.pids: pids.max holds the limit and a fork bomb hits it.

use serde_json::json;

use crate::support::Ctr;

#[test]
fn pids_limit_stops_a_fork_bomb() {
    // Each `sleep` lives on while the loop forks the next one, so the count climbs
    // until the limit refuses the fork; busybox ash then says "can't fork" and gives
    // up, which is why the loop runs in a shell of its own: the init goes on with
    // builtins and exec, which need no fork.
    let script =
        "sh -c 'for i in $(seq 100); do sleep 10 & done' 2>&1; echo forked-all; exec sleep 30";
    let mut c = Ctr::new("pids", &["sh", "-c", script]);
    c.config()["linux"]["resources"]["pids"] = json!({"limit": 20});
    c.write();
    c.create_ok();
    assert_eq!(c.cg_read("pids", "pids.max"), "20");

    c.start_ok();
    let out = c.wait_stdout("forked-all");
    assert!(
        out.contains("can't fork"),
        "100 background sleeps under pids.max 20 should fail to fork:\n{out}"
    );
    // The cgroup is full, never over, and the kernel counted the refusals.
    let current: u64 = c.cg_read("pids", "pids.current").parse().unwrap_or(0);
    assert!(
        (2..=20).contains(&current),
        "pids.current {current} with pids.max 20 after a fork bomb"
    );
    let refused = c.cg_read("pids", "pids.events");
    assert!(
        refused.strip_prefix("max ").is_some_and(|n| n != "0"),
        "pids.events should count refused forks: {refused:?}"
    );
    c.delete_force_ok();
}
