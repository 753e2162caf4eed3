//! linux.resources.memory: the limit lands in the container's memory cgroup, a process
//! that goes over it is OOM-killed, and `events` reports usage, limit and the kill.

use std::process::Child;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{expect_ok, output_file, poll, read, rt_cmd, Ctr, SETTLE};

const LIMIT: u64 = 32 << 20;

/// busybox tail of /dev/zero never sees a newline, so it keeps growing its buffer:
/// memory that is really touched, not just reserved.
const HOG: &str = "tail /dev/zero";

/// A container limited to 32 MiB of memory and no swap (memsw equal to the limit).
fn limited(name: &str, args: &[&str]) -> Ctr {
    let mut c = Ctr::new(name, args);
    c.config()["linux"]["resources"]["memory"] = json!({"limit": LIMIT, "swap": LIMIT});
    c.write();
    c
}

#[test]
fn memory_hog_is_oom_killed_and_run_exits_137() {
    let c = limited("oom-run", &["sh", "-c", HOG]);
    let out = c.run();
    assert_eq!(
        out.code,
        Some(137),
        "a hog over a 32 MiB limit must die by SIGKILL (128+9):\n{out}"
    );
    c.assert_gone();
}

#[test]
fn memory_limit_in_cgroup_and_events_stats() {
    let c = limited("mem-stats", &["sleep", "30"]);
    c.create_ok();
    assert_eq!(
        c.cg_read("memory", "memory.limit_in_bytes"),
        LIMIT.to_string()
    );
    if c.cg_dir("memory")
        .join("memory.memsw.limit_in_bytes")
        .exists()
    {
        assert_eq!(
            c.cg_read("memory", "memory.memsw.limit_in_bytes"),
            LIMIT.to_string(),
            "swap equal to the limit means memsw = limit"
        );
    }
    c.start_ok();

    let out = c.rt(&["events", "--stats", &c.id]);
    expect_ok(&out);
    let ev: Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("events --stats is not one JSON object ({e}):\n{out}"));
    assert_eq!(ev["type"], "stats", "{ev}");
    assert_eq!(ev["id"], c.id.as_str(), "{ev}");
    let mem = &ev["data"]["memory"];
    assert_eq!(mem["usage"]["limit"], json!(LIMIT), "memory limit: {ev}");
    let usage = mem["usage"]["usage"].as_u64().unwrap_or(0);
    assert!(
        usage > 0 && usage < LIMIT,
        "memory usage {usage} of a sleeping container: {ev}"
    );
    assert!(
        ev["data"]["pids"]["current"].as_u64().unwrap_or(0) >= 1,
        "pids.current: {ev}"
    );
    c.delete_force_ok();
}

/// Kills the `events` stream when the test ends, whatever happened.
struct Stream(Child);

impl Drop for Stream {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The init survives (it is not the hog) and keeps the container running, so the
/// `events` stream stays up to see the kill of its child.
#[test]
fn events_stream_reports_oom_of_a_detached_container() {
    let script = format!("sleep 1; {HOG}; echo hog-gone; sleep 30");
    let c = limited("oom-events", &["sh", "-c", &script]);
    c.create_ok();
    let events_out = c.io.path().join("events");
    let mut cmd = rt_cmd(&c.rt, &["events", "--interval", "1s", &c.id]);
    cmd.stdout(output_file(&events_out));
    cmd.stderr(output_file(&c.io.path().join("events.err")));
    let stream = Stream(cmd.spawn().expect("spawn events"));
    c.start_ok();

    c.wait_stdout("hog-gone");
    let seen = poll(SETTLE, || {
        let text = std::fs::read_to_string(&events_out).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|v| v["type"] == "oom")
            .then_some(text)
    });
    // A stats event every second, too; give the stream one to print.
    std::thread::sleep(Duration::from_millis(1200));
    drop(stream);
    let text = read(&events_out);
    assert!(
        seen.is_some(),
        "no {{\"type\":\"oom\"}} event in the stream:\n{text}\nstderr: {}",
        read(c.io.path().join("events.err"))
    );
    let events: Vec<Value> = text
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("event line is not JSON ({e}): {l:?}"))
        })
        .collect();
    let oom = events
        .iter()
        .find(|v| v["type"] == "oom")
        .expect("oom event");
    assert_eq!(oom["id"], c.id.as_str(), "{oom}");
    assert!(
        events
            .iter()
            .any(|v| v["type"] == "stats" && v["data"]["memory"]["usage"]["limit"] == LIMIT),
        "no stats event with the memory limit in the stream:\n{text}"
    );
    c.delete_force_ok();
}
