//! containerd drives the runtime under test through its runc.v2 shim, as users plug
//! hoist-runtime in (`ctr run --runc-binary`, CRI's `BinaryName`): output, exit status,
//! a terminal, exec, kill, pause/resume/ps and a failing create, each test against a
//! private containerd (own config, root, state and socket in a scratch dir).
//!
//! The runtime is `$HOIST_CONTAINERD_RUNTIME` if set (`/usr/sbin/runc` checks the tests
//! themselves), else the hoist-runtime cargo built. A wrapper records each command line
//! the shim issues, so every test also proves that containerd really called it.
//!
//! The shim uses host-global paths whatever containerd's `state` says
//! (`/run/containerd/runc/<ns>`, `/run/containerd/s`, `/run/containerd/fifo`) and
//! `ctr run` makes cgroups `/<ns>/<id>` in every hierarchy: hence `host_global` in the
//! names. A containerd namespace per test (which every container id starts with) keeps
//! tests apart when they run in parallel, and the guard's `Drop` removes all of it.

#[path = "containerd/cleanup.rs"]
mod cleanup;
mod common;
#[path = "containerd/daemon.rs"]
mod daemon;
#[path = "containerd/setup.rs"]
mod setup;

use daemon::Containerd;

#[test]
fn host_global_echo_output_reaches_ctr_stdout() {
    let ctd = Containerd::start("echo");
    let id = ctd.id("echo");
    let out = ctd.ctr_ok(&ctd.run_args(&["--rm"], &id, &["echo", "hello"]));
    assert_eq!(out.stdout, "hello\n", "{out}\n{}", ctd.diagnostics());
    ctd.assert_runtime_cleaned_up(&id);
}

#[test]
fn host_global_exit_status_reaches_ctr() {
    let ctd = Containerd::start("status");
    let id = ctd.id("status");
    let out = ctd.ctr(&ctd.run_args(&["--rm"], &id, &["sh", "-c", "exit 3"]));
    assert_eq!(out.code(), Some(3), "{out}\n{}", ctd.diagnostics());
    ctd.assert_runtime_cleaned_up(&id);
}

/// `ctr run -t` hands the runtime `--console-socket`; the container's stdio must be the
/// first pty of its own devpts.
#[test]
fn host_global_terminal_through_console_socket() {
    let ctd = Containerd::start("tty");
    let id = ctd.id("tty");
    let cmd = [
        "sh",
        "-c",
        "tty; [ -t 0 ] && [ -t 1 ] && echo stdio-is-a-tty",
    ];
    let out = ctd.ctr_in_terminal(&ctd.run_args(&["-t", "--rm"], &id, &cmd));
    ctd.expect_ok(&out);
    assert!(
        out.stdout.contains("/dev/pts/0\n") && out.stdout.contains("stdio-is-a-tty"),
        "{out}\n{}",
        ctd.diagnostics()
    );
    let create = ctd
        .runtime_calls()
        .into_iter()
        .find(|l| l.contains(" create ") && l.ends_with(&id));
    assert!(
        create
            .as_deref()
            .is_some_and(|l| l.contains("--console-socket ")),
        "create without --console-socket: {create:?}\n{}",
        ctd.diagnostics()
    );
    ctd.assert_runtime_cleaned_up(&id);
}

/// A detached task, two execs into it (plain and on a terminal), SIGKILL, delete.
#[test]
fn host_global_detached_exec_and_kill() {
    let ctd = Containerd::start("exec");
    let id = ctd.id("exec");
    ctd.ctr_ok(&ctd.run_args(&["-d"], &id, &["sleep", "1000"]));
    ctd.wait_status(&id, "RUNNING");

    // The exec joins the container's pid namespace: its pid 1 is the sleep.
    let script = r#"echo exec-ok; tr "\0" " " </proc/1/cmdline; echo; exit 5"#;
    let exec1 = ctd.id("exec1");
    let out = ctd.ctr(&["task", "exec", "--exec-id", &exec1, &id, "sh", "-c", script]);
    assert_eq!(out.code(), Some(5), "{out}\n{}", ctd.diagnostics());
    assert_eq!(
        out.stdout,
        "exec-ok\nsleep 1000 \n",
        "{out}\n{}",
        ctd.diagnostics()
    );

    let exec2 = ctd.id("exec2");
    let tty = "tty; [ -t 0 ] && echo stdin-is-a-tty";
    let out = ctd.ctr_in_terminal(&[
        "task",
        "exec",
        "-t",
        "--exec-id",
        &exec2,
        &id,
        "sh",
        "-c",
        tty,
    ]);
    ctd.expect_ok(&out);
    assert!(
        out.stdout.contains("/dev/pts/0\n") && out.stdout.contains("stdin-is-a-tty"),
        "{out}\n{}",
        ctd.diagnostics()
    );

    ctd.ctr_ok(&["task", "kill", "--signal", "SIGKILL", &id]);
    ctd.wait_status(&id, "STOPPED");
    let out = ctd.ctr_ok(&["task", "delete", &id]);
    // ctr warns "task ID exit with non-zero exit code 137": 128 + SIGKILL.
    assert!(out.stderr.contains("137"), "{out}\n{}", ctd.diagnostics());
    ctd.ctr_ok(&["containers", "delete", &id]);

    let subs = ctd.runtime_subcommands(&id);
    for want in ["exec", "kill"] {
        assert!(
            subs.iter().any(|s| s == want),
            "no `{want}` among the runtime calls for {id}: {subs:?}\n{}",
            ctd.diagnostics()
        );
    }
    ctd.assert_runtime_cleaned_up(&id);
}

/// `ctr task pause`/`resume`/`ps` go to the runtime's `pause`, `resume` and
/// `ps --format json`.
#[test]
fn host_global_pause_resume_ps() {
    let ctd = Containerd::start("pause");
    let id = ctd.id("pause");
    ctd.ctr_ok(&ctd.run_args(&["-d"], &id, &["sleep", "1000"]));
    let pid = ctd.wait_status(&id, "RUNNING");

    ctd.ctr_ok(&["task", "pause", &id]);
    ctd.wait_status(&id, "PAUSED");
    ctd.ctr_ok(&["task", "resume", &id]);
    ctd.wait_status(&id, "RUNNING");

    let out = ctd.ctr_ok(&["task", "ps", &id]);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.split_whitespace().next() == Some(&pid)),
        "init pid {pid} not in `ctr task ps`:\n{out}\n{}",
        ctd.diagnostics()
    );

    ctd.ctr_ok(&["task", "kill", "--signal", "SIGKILL", &id]);
    ctd.wait_status(&id, "STOPPED");
    ctd.ctr_ok(&["task", "delete", &id]);
    ctd.ctr_ok(&["containers", "delete", &id]);
    ctd.assert_runtime_cleaned_up(&id);
}

/// A create that fails (no such executable) must reach ctr as an error naming what was
/// wrong, taken from the runtime's `--log` JSON, and leave nothing behind.
#[test]
fn host_global_failed_create_is_reported_and_leaves_nothing() {
    let ctd = Containerd::start("fail");
    let id = ctd.id("fail");
    let out = ctd.ctr(&ctd.run_args(&["--rm"], &id, &["no-such-command"]));
    assert!(
        out.status.is_some() && !out.success(),
        "{out}\n{}",
        ctd.diagnostics()
    );
    assert!(
        out.stderr.contains("no-such-command"),
        "the error does not name the missing executable:\n{out}\n{}",
        ctd.diagnostics()
    );
    let left = ctd.ctr_ok(&["containers", "ls", "-q"]);
    assert!(left.stdout.trim().is_empty(), "{left}");
    ctd.assert_runtime_cleaned_up(&id);
}
