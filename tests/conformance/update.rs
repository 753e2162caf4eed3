//! Commands that act on a live container's cgroups, as runc has them (containerd's
//! shim calls `update --resources -`, `pause`, `resume` and `events --stats`): each
//! case reads the cgroup files back from the host, v1 or v2 as the controller is.

use std::fs::File;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};

use crate::cgroup_v2::{needs_v2, with_v2};
use crate::cgroups::{check_host, finish, host_place, sleeper};
use crate::harness::{ensure, exec, fail, new_id, nothing_left, CaseResult, Rt, Stop, CMD_TIMEOUT};
use crate::Case;

pub fn cases() -> Vec<Case> {
    vec![
        Case::new("update_memory", update_memory),
        Case::new("update_pids", |rt| update_pids(rt, "update_pids")),
        Case::new("update_pids_cgroup_v2", |rt| {
            with_v2(rt, &["pids"], |rt| update_pids(rt, "update_pids_cgroup_v2"))
        })
        .needs(|| needs_v2(&["pids"])),
        Case::new("update_cpu", update_cpu),
        Case::new("update_resources_file", |rt| update_resources(rt, false)),
        Case::new("update_resources_stdin", |rt| update_resources(rt, true)),
        Case::new("update_errors", update_errors),
        Case::new("events_stats", events_stats),
        Case::new("pause_resume_cgroup", |rt| {
            pause_resume_cgroup(rt, "pause_resume_cgroup")
        }),
        Case::new("pause_resume_cgroup_v2", |rt| {
            with_v2(rt, &["freezer"], |rt| {
                pause_resume_cgroup(rt, "pause_resume_cgroup_v2")
            })
        })
        .needs(|| needs_v2(&["freezer"])),
        Case::new("pause_resume_errors", pause_resume_errors),
    ]
}

/// Fails unless every value of `resources` is in `pid`'s cgroups.
fn expect_applied(pid: i64, resources: &Value, after: &str) -> CaseResult {
    let (_, wrong) = check_host(pid, resources)?;
    ensure(wrong.is_empty(), || {
        format!("after {after}:\n{}", wrong.join("\n"))
    })
}

/// `update --memory --memory-reservation --memory-swap` (bytes, as runc takes them;
/// swap is memory+swap).
fn update_memory(rt: &Rt) -> CaseResult {
    let (_b, id, pid) = sleeper(rt, "update-memory", |c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 100_663_296});
    })?;
    let args = [
        "update",
        "--memory",
        "67108864",
        "--memory-reservation",
        "33554432",
        "--memory-swap",
        "134217728",
        &id,
    ];
    rt.ok(&args)?;
    let want =
        json!({"memory": {"limit": 67_108_864, "reservation": 33_554_432, "swap": 134_217_728}});
    expect_applied(pid, &want, &args.join(" "))?;
    finish(rt, &id)
}

/// `update --pids-limit N`, then `-1` (unlimited: `max`).
fn update_pids(rt: &Rt, case: &str) -> CaseResult {
    let (_b, id, pid) = sleeper(rt, case, |c| {
        c["linux"]["resources"]["pids"] = json!({"limit": 42});
    })?;
    for (flag, want) in [("77", 77), ("-1", -1)] {
        rt.ok(&["update", "--pids-limit", flag, &id])?;
        expect_applied(
            pid,
            &json!({"pids": {"limit": want}}),
            &format!("update --pids-limit {flag}"),
        )?;
    }
    finish(rt, &id)
}

/// `update --cpu-share --cpu-quota --cpu-period --cpuset-cpus`, spelled as runc spells
/// them (`--cpu-share`, singular).
fn update_cpu(rt: &Rt) -> CaseResult {
    let (_b, id, pid) = sleeper(rt, "update-cpu", |c| {
        c["linux"]["resources"]["cpu"] = json!({"shares": 1024});
    })?;
    let args = [
        "update",
        "--cpu-share",
        "512",
        "--cpu-quota",
        "30000",
        "--cpu-period",
        "60000",
        "--cpuset-cpus",
        "0",
        &id,
    ];
    rt.ok(&args)?;
    let want = json!({"cpu": {"shares": 512, "quota": 30_000, "period": 60_000, "cpus": "0"}});
    expect_applied(pid, &want, &args.join(" "))?;
    finish(rt, &id)
}

/// `update --resources FILE` and `--resources -` (containerd's shim writes the
/// linux.resources JSON to stdin): memory, pids and cpu at once.
fn update_resources(rt: &Rt, stdin: bool) -> CaseResult {
    let case = if stdin {
        "update-resources-stdin"
    } else {
        "update-resources-file"
    };
    let (b, id, pid) = sleeper(rt, case, |c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 100_663_296});
        c["linux"]["resources"]["pids"] = json!({"limit": 42});
    })?;
    let want = json!({
        "memory": {"limit": 67_108_864, "reservation": 33_554_432},
        "pids": {"limit": 64},
        "cpu": {"shares": 256, "quota": 25_000, "period": 50_000}
    });
    let file = b.path().join("resources.json");
    crate::bundle::write_json(&file, &want)?;
    let file_arg = file.to_string_lossy().into_owned();
    let out = if stdin {
        let mut cmd = rt.command(&["update", "--resources", "-", &id]);
        let f = File::open(&file).map_err(|e| Stop::Fail(format!("open resources.json: {e}")))?;
        cmd.stdin(Stdio::from(f));
        exec(cmd, CMD_TIMEOUT)?
    } else {
        rt.run(&["update", "--resources", &file_arg, &id])?
    };
    let how = if stdin {
        "update --resources - (JSON on stdin)"
    } else {
        "update --resources FILE"
    };
    ensure(out.ok(), || format!("`{how}` failed: {}", out.describe()))?;
    expect_applied(pid, &want, how)?;
    finish(rt, &id)
}

/// `update` of an unknown or a stopped container fails.
fn update_errors(rt: &Rt) -> CaseResult {
    let none = rt.run(&["update", "--pids-limit", "5", &new_id("nonexistent")])?;
    ensure(!none.ok(), || "update of an unknown id worked".into())?;
    let (_b, id, _) = sleeper(rt, "update-errors", |_| {})?;
    rt.ok(&["kill", &id, "KILL"])?;
    rt.wait_status(&id, "stopped")?;
    let out = rt.run(&["update", "--pids-limit", "5", &id])?;
    ensure(!out.ok(), || "update of a stopped container worked".into())?;
    rt.ok(&["delete", &id])?;
    nothing_left(rt, &id)
}

/// `events --stats`: one JSON object `{"type": "stats", "id", "data"}` whose data has
/// the cgroup's numbers: pids current and limit, memory usage and limit, cpu usage.
fn events_stats(rt: &Rt) -> CaseResult {
    let (_b, id, _) = sleeper(rt, "events-stats", |c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 100_663_296});
        c["linux"]["resources"]["pids"] = json!({"limit": 42});
    })?;
    let out = rt.ok(&["events", "--stats", &id])?;
    let line = out
        .stdout
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let v: Value = serde_json::from_str(line).or_else(|e| {
        fail(format!(
            "events --stats printed no JSON ({e}): {:?}",
            out.stdout
        ))
    })?;
    let d = &v["data"];
    let checks = [
        (v["type"] == "stats", "type is \"stats\""),
        (v["id"] == id.as_str(), "id is the container's"),
        (
            d["pids"]["current"].as_u64().is_some_and(|n| n >= 1),
            "data.pids.current >= 1",
        ),
        (d["pids"]["limit"] == 42, "data.pids.limit is 42"),
        (
            d["memory"]["usage"]["usage"]
                .as_u64()
                .is_some_and(|n| n > 0),
            "data.memory.usage.usage > 0",
        ),
        (
            d["memory"]["usage"]["limit"] == 100_663_296,
            "data.memory.usage.limit is the limit",
        ),
        (
            d["cpu"]["usage"]["total"].as_u64().is_some_and(|n| n > 0),
            "data.cpu.usage.total > 0",
        ),
    ];
    let wrong: Vec<&str> = checks
        .iter()
        .filter(|(ok, _)| !ok)
        .map(|(_, w)| *w)
        .collect();
    ensure(wrong.is_empty(), || {
        format!("events --stats: not so: {}; got {line}", wrong.join(", "))
    })?;
    finish(rt, &id)?;
    let gone = rt.run(&["events", "--stats", &id])?;
    ensure(!gone.ok(), || {
        "events --stats of a deleted container worked".into()
    })
}

/// The freezer state of `pid`'s cgroup: v1 `freezer.state`, v2 `cgroup.freeze`.
fn frozen(pid: i64) -> Result<String, Stop> {
    let place = host_place(pid)?;
    let v1 = place.on_v1("freezer");
    let dir = place
        .dir(if v1 { "freezer" } else { "" })
        .map_err(Stop::Fail)?;
    let file = dir.join(if v1 { "freezer.state" } else { "cgroup.freeze" });
    std::fs::read_to_string(&file)
        .map(|s| s.trim().to_owned())
        .map_err(|e| Stop::Fail(format!("read {}: {e}", file.display())))
}

/// `pause` freezes the container's cgroup (FROZEN / cgroup.freeze 1, state `paused`),
/// `resume` thaws it; the processes stop counting meanwhile.
fn pause_resume_cgroup(rt: &Rt, case: &str) -> CaseResult {
    let script = "while true; do echo $((n=n+1)) > /tick; usleep 5000; done";
    let (b, id, pid) = sleeper(rt, case, |c| {
        c["process"]["args"] = json!(["sh", "-c", script]);
    })?;
    let tick = b.rootfs().join("tick");
    crate::lifecycle::wait_file(&tick)?;
    rt.ok(&["pause", &id])?;
    let st = rt.state(&id)?;
    ensure(st["status"] == "paused", || {
        format!("status after pause: {}", st["status"])
    })?;
    let f = frozen(pid)?;
    ensure(f == "FROZEN" || f == "1", || {
        format!("freezer after pause: {f:?}")
    })?;
    let read = || std::fs::read_to_string(&tick).unwrap_or_default();
    let before = read();
    std::thread::sleep(Duration::from_millis(100));
    ensure(before == read(), || "the container ran while paused".into())?;
    rt.ok(&["resume", &id])?;
    let f = frozen(pid)?;
    ensure(f == "THAWED" || f == "0", || {
        format!("freezer after resume: {f:?}")
    })?;
    ensure(rt.state(&id)?["status"] == "running", || {
        "not running after resume".into()
    })?;
    crate::harness::wait_for("the container to run again", || read() != before)?;
    finish(rt, &id)
}

/// runc's errors: pause of a paused container and resume of a running one fail
/// (`container not running`, `container not paused`), and so do both on a stopped
/// container, leaving the container as it was.
fn pause_resume_errors(rt: &Rt) -> CaseResult {
    let (_b, id, _) = sleeper(rt, "pause-errors", |_| {})?;
    let again = |what: &str, want: &str| -> CaseResult {
        let out = rt.run(&[what, &id])?;
        ensure(!out.ok(), || {
            format!("`{what}` of a {want} container worked")
        })?;
        let st = rt.state(&id)?;
        ensure(st["status"] == want, || {
            format!("the failed `{what}` left the container {}", st["status"])
        })
    };
    again("resume", "running")?;
    rt.ok(&["pause", &id])?;
    again("pause", "paused")?;
    rt.ok(&["resume", &id])?;
    rt.ok(&["kill", &id, "KILL"])?;
    rt.wait_status(&id, "stopped")?;
    again("pause", "stopped")?;
    again("resume", "stopped")?;
    rt.ok(&["delete", &id])?;
    nothing_left(rt, &id)
}
