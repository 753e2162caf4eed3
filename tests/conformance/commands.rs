//! Cases for the rest of runc's command line that engines drive: `exec` (as
//! containerd's shim calls it), `pause`/`resume`, `ps`, `--console-socket`, the global
//! `--log`/`--log-format json` and `--version`. Not in runtime-tools; DESIGN.md makes
//! them part of the contract.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::bundle::{checker_bundle, judge_tap, seal, write_json, CHECKER, CHECKER_DIR, NS_NAMES};
use crate::common::Bundle;
use crate::console::Console;
use crate::harness::{ensure, fail, new_id, nothing_left, wait_for, CaseResult, Rt, Stop};
use crate::lifecycle::wait_file;
use crate::Case;

pub fn cases() -> Vec<Case> {
    vec![
        Case::new("exec", exec),
        Case::new("exec_process", exec_process),
        Case::new("exec_errors", exec_errors),
        Case::new("pause_resume", pause_resume),
        Case::new("ps", ps),
        Case::new("process_terminal", process_terminal),
        Case::new("log_json", log_json),
        Case::new("version", version),
    ]
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// A started container running `sleep 300`; returns its id and init pid.
fn running(rt: &Rt, b: &Bundle, case: &str) -> Result<(String, i64), Stop> {
    let id = new_id(case);
    rt.create(b, &id)?;
    rt.ok(&["start", &id])?;
    let st = rt.wait_status(&id, "running")?;
    let pid = st["pid"]
        .as_i64()
        .filter(|p| *p > 0)
        .ok_or_else(|| Stop::Fail(format!("no pid: {st}")))?;
    Ok((id, pid))
}

fn finish(rt: &Rt, id: &str) -> CaseResult {
    rt.ok(&["kill", id, "KILL"])?;
    rt.wait_status(id, "stopped")?;
    rt.ok(&["delete", id])?;
    nothing_left(rt, id)
}

/// `exec ID ARGS…`: runs in the container, passes the exit status through;
/// `exec --detach --pid-file` (containerd's way) leaves a process in the container's
/// pid namespace and writes its pid.
fn exec(rt: &Rt) -> CaseResult {
    let b = Bundle::new("exec", &["sleep", "300"]);
    let (id, init) = running(rt, &b, "exec")?;
    let out = rt.run(&[
        "exec",
        &id,
        "sh",
        "-c",
        "echo in-container; hostname; exit 4",
    ])?;
    ensure(out.status.code() == Some(4), || {
        format!("exec exited {}, expected 4: {}", out.status, out.describe())
    })?;
    ensure(out.stdout == "in-container\nhoist\n", || {
        format!("exec stdout {:?}", out.stdout)
    })?;

    let pid_file = b.path().join("exec.pid");
    rt.ok(&[
        "exec",
        "--detach",
        "--pid-file",
        &path_str(&pid_file),
        &id,
        "sleep",
        "200",
    ])?;
    let text = std::fs::read_to_string(&pid_file)
        .map_err(|e| Stop::Fail(format!("read exec pid file: {e}")))?;
    let pid: i64 = text
        .trim()
        .parse()
        .map_err(|e| Stop::Fail(format!("exec pid file {text:?}: {e}")))?;
    for (_, ns) in NS_NAMES
        .iter()
        .filter(|(ty, _)| ["pid", "network", "mount", "ipc", "uts"].contains(ty))
    {
        let a = std::fs::read_link(format!("/proc/{pid}/ns/{ns}"));
        let b = std::fs::read_link(format!("/proc/{init}/ns/{ns}"));
        ensure(a.is_ok() && a.as_ref().ok() == b.as_ref().ok(), || {
            format!("exec'd process {pid} is not in the container's {ns} namespace: {a:?} vs {b:?}")
        })?;
    }
    finish(rt, &id)
}

/// `exec --process FILE`: the checker runs as the exec'd process and checks what the
/// process JSON asked for (user, capabilities, rlimits, env, cwd, noNewPrivileges) and
/// that it joined every namespace of the container.
fn exec_process(rt: &Rt) -> CaseResult {
    let b = checker_bundle(
        "exec-process",
        |c| c["process"]["args"] = json!(["sleep", "300"]),
        json!({}),
    )?;
    let (id, init) = running(rt, &b, "exec-process")?;
    let exec_config = format!("/{CHECKER_DIR}/exec.json");
    let process = json!({
        "terminal": false,
        "args": [CHECKER, exec_config],
        "env": ["PATH=/bin", "HOIST_EXEC=1"],
        "cwd": "/tmp",
        "user": {"uid": 1000, "gid": 1000, "additionalGids": [7]},
        "capabilities": {
            "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "inheritable": ["CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_NET_BIND_SERVICE"]
        },
        // soft == hard: runc 1.1.5 sets an exec'd process's rlimits with prlimit from
        // outside, racing its own Go runtime, which raises the NOFILE soft limit to the
        // hard one at start; a lower soft limit makes runc itself flaky here.
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 150, "hard": 150}],
        "noNewPrivileges": true
    });
    // The checker's view: the container's config with this process, and every
    // namespace given as the init's.
    let mut cfg = b.config.clone();
    cfg["process"] = process.clone();
    let mut inodes = serde_json::Map::new();
    let mut namespaces = Vec::new();
    for n in b.config["linux"]["namespaces"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let ty = n["type"].as_str().unwrap_or_default().to_owned();
        let Some((_, name)) = NS_NAMES.iter().find(|(t, _)| *t == ty) else {
            continue;
        };
        let p = format!("/proc/{init}/ns/{name}");
        let ino = std::fs::metadata(&p)
            .map_err(|e| Stop::Fail(format!("stat {p}: {e}")))?
            .ino();
        inodes.insert(ty.clone(), json!(ino));
        namespaces.push(json!({"type": ty, "path": p}));
    }
    cfg["linux"]["namespaces"] = json!(namespaces);
    let dir = b.rootfs().join(CHECKER_DIR);
    write_json(&dir.join("exec.json"), &cfg)?;
    let mut expect: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expect.json")).unwrap_or_default())
            .unwrap_or_else(|_| json!({}));
    expect["namespace_inodes"] = json!(inodes);
    expect["checks"] = json!([
        "process",
        "user",
        "caps",
        "rlimits",
        "nnp",
        "namespaces",
        "fds"
    ]);
    write_json(&dir.join("expect.json"), &expect)?;
    let process_file = b.path().join("process.json");
    write_json(&process_file, &process)?;
    let out = rt.run(&["exec", "--process", &path_str(&process_file), &id])?;
    judge_tap(&out.stdout).map_err(|e| match e {
        Stop::Fail(m) => Stop::Fail(format!("{m}\n{}", out.describe())),
        s => s,
    })?;
    ensure(out.ok(), || {
        format!("exec exited {}: {}", out.status, out.describe())
    })?;
    finish(rt, &id)
}

/// exec into a stopped or unknown container is an error.
fn exec_errors(rt: &Rt) -> CaseResult {
    let none = rt.run(&["exec", &new_id("nonexistent"), "true"])?;
    ensure(!none.ok(), || "exec into an unknown id worked".into())?;
    let b = Bundle::new("exec-errors", &["true"]);
    let id = new_id("exec-errors");
    rt.create(&b, &id)?;
    rt.ok(&["start", &id])?;
    rt.wait_status(&id, "stopped")?;
    let out = rt.run(&["exec", &id, "true"])?;
    ensure(!out.ok(), || "exec into a stopped container worked".into())?;
    rt.ok(&["delete", &id])?;
    nothing_left(rt, &id)
}

/// `pause` freezes every process (state `paused`), `resume` thaws them.
fn pause_resume(rt: &Rt) -> CaseResult {
    let script = "while true; do echo $((n=n+1)) > /tick; usleep 5000; done";
    let b = Bundle::new("pause", &["sh", "-c", script]);
    let (id, _) = running(rt, &b, "pause")?;
    let tick = b.rootfs().join("tick");
    wait_file(&tick)?;
    let read = || std::fs::read_to_string(&tick).unwrap_or_default();
    rt.ok(&["pause", &id])?;
    let st = rt.state(&id)?;
    ensure(st["status"] == "paused", || {
        format!("status after pause: {}", st["status"])
    })?;
    let before = read();
    std::thread::sleep(Duration::from_millis(200));
    let after = read();
    ensure(before == after, || {
        format!("the container kept running while paused: {before:?} -> {after:?}")
    })?;
    rt.ok(&["resume", &id])?;
    let st = rt.state(&id)?;
    ensure(st["status"] == "running", || {
        format!("status after resume: {}", st["status"])
    })?;
    wait_for("the container to run again", || read() != after)?;
    finish(rt, &id)
}

/// `ps --format json` lists the container's pids (containerd's shim reads it).
fn ps(rt: &Rt) -> CaseResult {
    let b = Bundle::new("ps", &["sleep", "300"]);
    let (id, init) = running(rt, &b, "ps")?;
    let out = rt.ok(&["ps", "--format", "json", &id])?;
    let pids: Vec<i64> = serde_json::from_str(&out.stdout).or_else(|e| {
        fail(format!(
            "ps output is not a JSON array of pids ({e}): {:?}",
            out.stdout
        ))
    })?;
    ensure(pids.contains(&init), || {
        format!("ps lists {pids:?}, not the init {init}")
    })?;
    finish(rt, &id)
}

/// `process.terminal` with `--console-socket`: the pty master arrives over the socket,
/// and the checker sees /dev/console and a terminal on stdio.
fn process_terminal(rt: &Rt) -> CaseResult {
    let mut b = checker_bundle(
        "terminal",
        |_| {},
        json!({"checks": ["default_devices", "process"]}),
    )?;
    b.config["process"]["terminal"] = json!(true);
    seal(&b)?;
    let sock = b.path().join("console.sock");
    let console = Console::listen(&sock)?;
    let id = new_id("terminal");
    rt.ok(&[
        "create",
        "--bundle",
        &path_str(b.path()),
        "--console-socket",
        &path_str(&sock),
        &id,
    ])?;
    rt.ok(&["start", &id])?;
    rt.wait_status(&id, "stopped")?;
    let text = console.wait_output(Duration::from_secs(5))?;
    judge_tap(&text)?;
    rt.ok(&["delete", &id])?;
    nothing_left(rt, &id)
}

/// The global `--log FILE --log-format json` (containerd passes both): one JSON
/// object per line with `level`, `msg` and an RFC 3339 `time`, the error among them.
fn log_json(rt: &Rt) -> CaseResult {
    let dir = crate::common::scratch("log");
    let log = dir.path().join("log.json");
    let id = new_id("log-json");
    let missing = dir.path().join("no-bundle");
    let out = rt.run(&[
        "--log",
        &path_str(&log),
        "--log-format",
        "json",
        "create",
        "--bundle",
        &path_str(&missing),
        &id,
    ])?;
    ensure(!out.ok(), || "create of a missing bundle worked".into())?;
    let text =
        std::fs::read_to_string(&log).map_err(|e| Stop::Fail(format!("no log file: {e}")))?;
    let mut levels = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)
            .or_else(|e| fail(format!("log line is not JSON ({e}): {line:?}")))?;
        for key in ["level", "msg", "time"] {
            ensure(v[key].is_string(), || {
                format!("log line lacks a string {key:?}: {line}")
            })?;
        }
        let time = v["time"].as_str().unwrap_or_default();
        ensure(rfc3339(time), || format!("time {time:?} is not RFC 3339"))?;
        levels.push(v["level"].as_str().unwrap_or_default().to_owned());
    }
    ensure(levels.iter().any(|l| l == "error"), || {
        format!("no error line in the log: {text:?}")
    })?;
    nothing_left(rt, &id)
}

/// A loose RFC 3339 date-time check: `YYYY-MM-DDTHH:MM:SS`, optional fraction, then
/// `Z` or an offset.
fn rfc3339(t: &str) -> bool {
    let b = t.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let shape = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && (b[10] == b'T' || b[10] == b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !shape {
        return false;
    }
    let mut rest = &t[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    rest == "Z"
        || rest == "z"
        || (rest.len() == 6
            && (rest.starts_with('+') || rest.starts_with('-'))
            && &rest[3..4] == ":")
}

/// `--version`: the runtime's version line, then `key: value` lines that include
/// `spec: <runtime-spec version>` (engines log and parse these).
fn version(rt: &Rt) -> CaseResult {
    let out = crate::harness::exec(
        {
            let mut c = std::process::Command::new(&rt.bin);
            c.arg("--version").stdin(std::process::Stdio::null());
            c
        },
        crate::harness::CMD_TIMEOUT,
    )?;
    ensure(out.ok(), || format!("--version failed: {}", out.describe()))?;
    let lines: Vec<&str> = out.stdout.lines().collect();
    ensure(lines.len() >= 3, || {
        format!("expected at least 3 lines, got {:?}", out.stdout)
    })?;
    ensure(lines[0].contains("version"), || {
        format!("first line {:?} names no version", lines[0])
    })?;
    ensure(lines.iter().any(|l| l.starts_with("spec: 1.")), || {
        format!("no `spec: 1.x` line in {:?}", out.stdout)
    })
}
