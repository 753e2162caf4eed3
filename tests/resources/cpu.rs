//! linux.resources.cpu: a CFS quota throttles a busy loop (asserted on the kernel's
//! throttle counters, never on timing), and cpuset cpus pin the container.

use serde_json::{json, Value};

use crate::support::{expect_ok, poll, Ctr, SETTLE};

/// `key value` lines (cpu.stat) as pairs.
fn stat(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn cpu_quota_throttles_a_busy_loop() {
    let mut c = Ctr::new("cpu-quota", &["sh", "-c", "while :; do :; done"]);
    c.config()["linux"]["resources"]["cpu"] = json!({"quota": 10000, "period": 100000});
    c.write();
    c.create_ok();
    assert_eq!(c.cg_read("cpu", "cpu.cfs_quota_us"), "10000");
    assert_eq!(c.cg_read("cpu", "cpu.cfs_period_us"), "100000");

    c.start_ok();
    // 10 ms every 100 ms: a busy loop is throttled in nearly every period, so a few
    // periods suffice; SETTLE only bounds a broken runtime.
    let throttled = poll(SETTLE, || {
        let s = c.cg_read("cpu", "cpu.stat");
        (stat(&s, "nr_throttled ") >= 3).then_some(s)
    });
    assert!(
        throttled.is_some(),
        "a busy loop under quota 10000/100000 was never throttled: {}",
        c.cg_read("cpu", "cpu.stat")
    );

    // runc's stats carry the same counters (cgroups.ThrottlingData).
    let out = c.rt(&["events", "--stats", &c.id]);
    expect_ok(&out);
    let ev: Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("events --stats is not JSON ({e}):\n{out}"));
    let cpu = &ev["data"]["cpu"];
    assert!(
        cpu["usage"]["total"].as_u64().unwrap_or(0) > 0,
        "cpu usage of a busy loop: {ev}"
    );
    assert!(
        cpu["throttling"]["throttledPeriods"].as_u64().unwrap_or(0) > 0,
        "events --stats should report cpu.throttling.throttledPeriods: {ev}"
    );
    c.delete_force_ok();
}

#[test]
fn cpuset_cpus_pins_the_container() {
    let mut c = Ctr::new(
        "cpuset",
        &["grep", "Cpus_allowed_list", "/proc/self/status"],
    );
    c.config()["linux"]["resources"]["cpu"] = json!({"cpus": "0", "mems": "0"});
    c.write();
    c.create_ok();
    assert_eq!(c.cg_read("cpuset", "cpuset.cpus"), "0");
    c.start_ok();
    let out = c.wait_stdout("Cpus_allowed_list");
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["Cpus_allowed_list:", "0"],
        "{out:?}"
    );
    c.wait_status("stopped");
    c.delete_force_ok();
}
