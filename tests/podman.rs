//! podman drives the runtime under test as users plug hoist-runtime in
//! (`podman --runtime PATH`, through conmon): output and exit status, a terminal, a
//! failing create, exec, pause/unpause, stats from the runtime's cgroups, stop with and
//! without a TERM handler, rm, and `--cgroups=disabled`. Each test has a private podman:
//! its own `--root`, `--runroot`, storage.conf, containers.conf (`CONTAINERS_CONF`), tmp
//! dir, file locks and event log in a scratch dir, overlay storage, `--network none`.
//!
//! The runtime is `$HOIST_PODMAN_RUNTIME` if set (`/usr/sbin/runc` checks the tests
//! themselves), else the hoist-runtime cargo built. podman only sees a wrapper named
//! `hoist-runtime`, listed in `runtime_supports_json` and `runtime_supports_nocgroup`; the
//! wrapper records each command line podman and conmon issue and adds a private `--root`.
//!
//! Containers make cgroups in every hierarchy (under a cgroup parent unique to the test,
//! `/hoist-podman-<tag>-<pid>-<n>`), and conmon outlives the podman call that started it:
//! hence `host_global` in the names. The guard's `Drop` removes all of it.

#[path = "podman/cleanup.rs"]
mod cleanup;
mod common;
#[path = "podman/engine.rs"]
mod engine;
#[path = "podman/setup.rs"]
mod setup;

use std::time::Duration;

use engine::Podman;
use serde_json::Value;

#[test]
fn host_global_echo_output_and_exit_status() {
    let pm = Podman::start("echo");
    let out = pm.podman(&pm.run_args("echo", &["--rm"], &["echo", "hello"]));
    assert!(
        out.success() && out.stdout == "hello\n",
        "{out}\n{}",
        pm.diagnostics()
    );
    let id = pm.read_cid("echo");
    // The wrapper's file name is in runtime_supports_json: errors come back as JSON.
    let create = pm.runtime_call("create", &id);
    assert!(
        create.contains("--log-format=json --log "),
        "create without a JSON --log: {create}\n{}",
        pm.diagnostics()
    );
    pm.assert_runtime_cleaned_up(&id);

    let out = pm.podman(&pm.run_args("status", &["--rm"], &["sh", "-c", "exit 3"]));
    assert_eq!(out.code(), Some(3), "{out}\n{}", pm.diagnostics());
    pm.assert_runtime_cleaned_up(&pm.read_cid("status"));
}

/// `podman run -it` makes conmon pass `--console-socket`; the container's stdio must be
/// the first pty of its own devpts.
#[test]
fn host_global_terminal_run_it() {
    let pm = Podman::start("tty");
    let cmd = [
        "sh",
        "-c",
        "tty; [ -t 0 ] && [ -t 1 ] && echo stdio-is-a-tty",
    ];
    let out = pm.podman_in_terminal(&pm.run_args("tty", &["-it", "--rm"], &cmd));
    pm.expect_ok(&out);
    assert!(
        out.stdout.contains("/dev/pts/0\n") && out.stdout.contains("stdio-is-a-tty"),
        "{out}\n{}",
        pm.diagnostics()
    );
    let id = pm.read_cid("tty");
    let create = pm.runtime_call("create", &id);
    assert!(
        create.contains("--console-socket "),
        "create without --console-socket: {create}\n{}",
        pm.diagnostics()
    );
    pm.assert_runtime_cleaned_up(&id);
}

/// A create that fails (no such executable) must reach podman through the runtime's
/// JSON `--log` as "not found" (podman's exit status 127) naming the command, and leave
/// nothing behind.
#[test]
fn host_global_failed_create_is_reported_and_leaves_nothing() {
    let pm = Podman::start("fail");
    let out = pm.podman(&pm.run_args("fail", &["--rm"], &["no-such-command"]));
    assert_eq!(out.code(), Some(127), "{out}\n{}", pm.diagnostics());
    assert!(
        out.stderr.contains("no-such-command"),
        "the error does not name the missing executable:\n{out}\n{}",
        pm.diagnostics()
    );
    let left = pm.podman_ok(&["ps", "-a", "-q"]);
    assert!(left.stdout.trim().is_empty(), "{left}");
    pm.assert_runtime_cleaned_up(&pm.read_cid("fail"));
}

/// A detached container, two execs into it (plain and on a terminal), pause and unpause,
/// `podman stats` (which reads the cgroups the runtime made, at the `cgroupsPath` podman
/// gave), and `rm -f`.
#[test]
fn host_global_detached_exec_pause_stats() {
    let pm = Podman::start("detach");
    let name = "detach";
    pm.podman_ok(&pm.run_args(name, &["-d"], &["sleep", "1000"]));
    let id = pm.read_cid(name);
    let status = pm.ps_status(name);
    assert!(
        status.starts_with("Up"),
        "status {status:?}\n{}",
        pm.diagnostics()
    );

    // The init is where podman reads its stats from.
    let pid = pm.inspect(name, "{{.State.Pid}}");
    for controller in ["memory", "cpuacct", "pids", "freezer"] {
        let procs = pm.container_cgroup(controller, &id).join("cgroup.procs");
        let text = std::fs::read_to_string(&procs).unwrap_or_default();
        assert!(
            text.lines().any(|l| l.trim() == pid),
            "init {pid} not in {}: {text:?}\n{}",
            procs.display(),
            pm.diagnostics()
        );
    }

    // The exec joins the container's pid namespace: its pid 1 is the sleep.
    let script = r#"echo exec-ok; tr "\0" " " </proc/1/cmdline; echo; exit 5"#;
    let out = pm.podman(&["exec", name, "sh", "-c", script]);
    assert_eq!(out.code(), Some(5), "{out}\n{}", pm.diagnostics());
    assert_eq!(
        out.stdout,
        "exec-ok\nsleep 1000 \n",
        "{out}\n{}",
        pm.diagnostics()
    );
    let tty = "tty; [ -t 0 ] && echo stdin-is-a-tty";
    let out = pm.podman_in_terminal(&["exec", "-it", name, "sh", "-c", tty]);
    pm.expect_ok(&out);
    assert!(
        out.stdout.contains("/dev/pts/0\n") && out.stdout.contains("stdin-is-a-tty"),
        "{out}\n{}",
        pm.diagnostics()
    );
    let execs = pm
        .runtime_calls_for(&id)
        .into_iter()
        .filter(|l| engine::subcommand(l).as_deref() == Some("exec"))
        .collect::<Vec<_>>();
    assert!(
        execs.len() == 2 && execs.iter().any(|l| l.contains("--console-socket ")),
        "want two `exec` calls, one with --console-socket: {execs:#?}\n{}",
        pm.diagnostics()
    );

    let freezer = pm.container_cgroup("freezer", &id).join("freezer.state");
    pm.podman_ok(&["pause", name]);
    assert_eq!(pm.ps_status(name), "Paused", "{}", pm.diagnostics());
    let state = std::fs::read_to_string(&freezer).unwrap_or_default();
    assert_eq!(
        state.trim(),
        "FROZEN",
        "{}\n{}",
        freezer.display(),
        pm.diagnostics()
    );
    pm.podman_ok(&["unpause", name]);
    let status = pm.ps_status(name);
    assert!(
        status.starts_with("Up"),
        "status {status:?}\n{}",
        pm.diagnostics()
    );
    let state = std::fs::read_to_string(&freezer).unwrap_or_default();
    assert_eq!(
        state.trim(),
        "THAWED",
        "{}\n{}",
        freezer.display(),
        pm.diagnostics()
    );

    let out = pm.podman_ok(&["stats", "--no-stream", "--format", "json", name]);
    check_stats(&out.stdout, &id).unwrap_or_else(|e| panic!("{e}\n{out}\n{}", pm.diagnostics()));

    pm.podman_ok(&["rm", "--force", "--time", "0", name]);
    let subs = pm.runtime_subcommands(&id);
    for want in ["start", "exec", "pause", "resume", "kill"] {
        assert!(
            subs.iter().any(|s| s == want),
            "no `{want}` among the runtime calls for {id}: {subs:?}\n{}",
            pm.diagnostics()
        );
    }
    pm.assert_runtime_cleaned_up(&id);
}

/// `podman stats --format json` has one entry for container `id` with memory, CPU and
/// pid figures read from live cgroups: nothing may be zero for a running `sleep`.
fn check_stats(json: &str, id: &str) -> Result<(), String> {
    let v: Value = serde_json::from_str(json).map_err(|e| format!("stats is not JSON: {e}"))?;
    let entry = v
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|e| e["id"].as_str().is_some_and(|s| id.starts_with(s)))
        })
        .ok_or_else(|| format!("no stats entry for {id}"))?;
    let field = |k: &str| {
        entry[k]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("stats entry has no string {k:?}: {entry}"))
    };
    // "192.5kB / 25.28GB": usage over limit.
    let mem = field("mem_usage")?;
    let (usage, limit) = mem
        .split_once(" / ")
        .ok_or_else(|| format!("mem_usage {mem:?} is not `usage / limit`"))?;
    if usage.starts_with("0B") || limit.starts_with("0B") {
        return Err(format!("mem_usage {mem:?}: memory cgroup not read"));
    }
    let cpu = field("cpu_time")?;
    if cpu == "0s" || cpu.is_empty() {
        return Err(format!("cpu_time {cpu:?}: cpuacct cgroup not read"));
    }
    field("cpu_percent")?;
    field("mem_percent")?;
    let pids = field("pids")?;
    if pids.parse::<u64>().map_or(true, |n| n == 0) {
        return Err(format!("pids {pids:?}: pids cgroup not read"));
    }
    Ok(())
}

/// `podman stop -t 1`: a container whose init handles TERM ends with its own status; one
/// that ignores TERM is sent SIGKILL once the second is up (137). Then `podman rm`.
#[test]
fn host_global_stop_trapped_and_ignored_term() {
    let pm = Podman::start("stop");
    let loop_ = "echo ready; while :; do sleep 0.1; done";
    let trapped = format!("trap 'echo got-term; exit 7' TERM; {loop_}");
    let ignored = format!("trap '' TERM; {loop_}");
    pm.podman_ok(&pm.run_args("trapped", &["-d"], &["sh", "-c", &trapped]));
    pm.podman_ok(&pm.run_args("ignored", &["-d"], &["sh", "-c", &ignored]));
    pm.wait_for_log("trapped", "ready");
    pm.wait_for_log("ignored", "ready");

    pm.podman_ok(&["stop", "-t", "1", "trapped"]);
    let code = pm.inspect("trapped", "{{.State.ExitCode}}");
    assert_eq!(
        code,
        "7",
        "the TERM handler did not run\n{}",
        pm.diagnostics()
    );
    pm.wait_for_log("trapped", "got-term");

    let out = pm.podman_ok(&["stop", "-t", "1", "ignored"]);
    let code = pm.inspect("ignored", "{{.State.ExitCode}}");
    assert_eq!(code, "137", "{out}\n{}", pm.diagnostics());
    assert!(
        out.elapsed >= Duration::from_millis(900),
        "SIGKILL before the 1 s timeout: {out}\n{}",
        pm.diagnostics()
    );

    let trapped_id = pm.read_cid("trapped");
    let ignored_id = pm.read_cid("ignored");
    let signals = |id: &str| -> Vec<String> {
        pm.runtime_calls_for(id)
            .iter()
            .filter(|l| engine::subcommand(l).as_deref() == Some("kill"))
            .filter_map(|l| l.rsplit(' ').next().map(str::to_owned))
            .collect()
    };
    let is = |s: &str, names: &[&str]| names.contains(&s.trim_start_matches("SIG"));
    let sent = signals(&trapped_id);
    assert!(
        sent.iter().any(|s| is(s, &["15", "TERM"])) && !sent.iter().any(|s| is(s, &["9", "KILL"])),
        "kill calls for the trapping container: {sent:?}\n{}",
        pm.diagnostics()
    );
    let sent = signals(&ignored_id);
    assert!(
        sent.iter().any(|s| is(s, &["15", "TERM"])) && sent.iter().any(|s| is(s, &["9", "KILL"])),
        "kill calls for the ignoring container: {sent:?}\n{}",
        pm.diagnostics()
    );

    pm.podman_ok(&["rm", "trapped", "ignored"]);
    let left = pm.podman_ok(&["ps", "-a", "-q"]);
    assert!(left.stdout.trim().is_empty(), "{left}");
    pm.assert_runtime_cleaned_up(&trapped_id);
    pm.assert_runtime_cleaned_up(&ignored_id);
}

/// `--cgroups=disabled` with the runtime listed in `runtime_supports_nocgroup`: podman
/// drops `cgroupsPath` and `linux.resources` from the config and passes crun's global
/// `--cgroup-manager disabled`; the container must then stay in conmon's cgroups.
#[test]
fn host_global_cgroups_disabled() {
    let pm = Podman::start("nocg");
    let name = "nocg";
    let out = pm.podman(&pm.run_args(name, &["-d", "--cgroups=disabled"], &["sleep", "1000"]));
    pm.expect_ok(&out);
    let id = pm.read_cid(name);
    let create = pm.runtime_call("create", &id);
    assert!(
        create.contains("--cgroup-manager disabled"),
        "{create}\n{}",
        pm.diagnostics()
    );
    let pids = pm.inspect(name, "{{.State.Pid}} {{.State.ConmonPid}}");
    let (init, conmon) = pids.split_once(' ').unwrap_or_default();
    let cgroups = |pid: &str| std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok();
    assert!(
        cgroups(init).is_some() && cgroups(init) == cgroups(conmon),
        "container init {init} is in {:?}, conmon {conmon} in {:?}\n{}",
        cgroups(init),
        cgroups(conmon),
        pm.diagnostics()
    );
    pm.podman_ok(&["rm", "--force", "--time", "0", name]);
    pm.assert_runtime_cleaned_up(&id);
}
