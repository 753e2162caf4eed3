//! The lifecycle as callers drive it: create → start → kill → delete, the statuses in
//! between, signal names, `run` in the foreground and detached, and the commands that
//! must refuse in the wrong state.

use std::fs;

use crate::support::{alive, assert_pid_gone, expect_error, expect_ok, poll, Ctr, SETTLE};

/// Waits until the container's script has written `/ready` into the rootfs.
fn wait_ready(c: &Ctr) {
    let ready = c.bundle.rootfs().join("ready");
    assert!(
        poll(SETTLE, || ready.exists().then_some(())).is_some(),
        "container never wrote /ready; stdout: {}",
        c.container_stdout()
    );
}

#[test]
fn create_start_kill_delete() {
    let c = Ctr::new("life", &["sleep", "30"]);
    c.create_ok();

    let st = c.state();
    assert_eq!(st["status"], "created", "{st}");
    assert_eq!(st["id"], c.id.as_str(), "{st}");
    let pid = st["pid"].as_i64().unwrap_or(0);
    assert!(pid > 0, "created container has no pid: {st}");
    let pid_file = fs::read_to_string(c.pid_file()).expect("read pid file");
    assert_eq!(pid_file.trim(), pid.to_string(), "pid file vs state");
    assert!(alive(pid), "init {pid} not alive after create");

    c.start_ok();
    assert_eq!(c.status(), "running");
    assert_eq!(c.pid(), pid, "start changed the pid");

    expect_ok(&c.rt(&["kill", &c.id, "KILL"]));
    c.wait_status("stopped");
    assert_pid_gone(pid);

    expect_ok(&c.rt(&["delete", &c.id]));
    c.assert_gone();
}

/// A pid-namespace init ignores signals it has no handler for, so the script traps
/// TERM, says so in a file, and exits.
fn kill_with_term_named(name: &str, signal: &str) {
    let script = "trap 'echo got-term > /got; exit 0' TERM; touch /ready; sleep 30 & wait";
    let c = Ctr::new(name, &["sh", "-c", script]);
    c.create_ok();
    c.start_ok();
    wait_ready(&c);
    expect_ok(&c.rt(&["kill", &c.id, signal]));
    c.wait_status("stopped");
    let got = fs::read_to_string(c.bundle.rootfs().join("got")).unwrap_or_default();
    assert_eq!(got, "got-term\n", "`kill {signal}` did not deliver SIGTERM");
    expect_ok(&c.rt(&["delete", &c.id]));
    c.assert_gone();
}

#[test]
fn kill_signal_name_term() {
    kill_with_term_named("term", "TERM");
}

#[test]
fn kill_signal_name_sigterm() {
    kill_with_term_named("sigterm", "SIGTERM");
}

#[test]
fn kill_signal_number_15() {
    kill_with_term_named("sig15", "15");
}

#[test]
fn kill_default_signal_is_term() {
    let script = "trap 'echo got-term > /got; exit 0' TERM; touch /ready; sleep 30 & wait";
    let c = Ctr::new("termdefault", &["sh", "-c", script]);
    c.create_ok();
    c.start_ok();
    wait_ready(&c);
    expect_ok(&c.rt(&["kill", &c.id]));
    c.wait_status("stopped");
    let got = fs::read_to_string(c.bundle.rootfs().join("got")).unwrap_or_default();
    assert_eq!(got, "got-term\n", "`kill ID` did not deliver SIGTERM");
}

#[test]
fn kill_unknown_signal_fails() {
    let c = Ctr::new("badsig", &["sleep", "30"]);
    c.create_ok();
    c.start_ok();
    let out = c.rt(&["kill", &c.id, "SIGNOPE"]);
    expect_error(&out, "signal");
    assert_eq!(
        c.status(),
        "running",
        "a bad signal must not touch the container"
    );
}

#[test]
fn kill_stopped_container_fails() {
    let c = Ctr::new("killstopped", &["sleep", "30"]);
    c.create_ok();
    c.start_ok();
    expect_ok(&c.rt(&["kill", &c.id, "SIGKILL"]));
    c.wait_status("stopped");
    let out = c.rt(&["kill", &c.id, "SIGKILL"]);
    expect_error(&out, "container not running");
    assert_eq!(c.status(), "stopped");
}

#[test]
fn delete_running_needs_force() {
    let c = Ctr::new("delrunning", &["sleep", "30"]);
    c.create_ok();
    c.start_ok();
    let pid = c.pid();
    let out = c.rt(&["delete", &c.id]);
    assert_eq!(out.code, Some(1), "delete of a running container:\n{out}");
    assert_eq!(
        c.status(),
        "running",
        "a refused delete must leave it running"
    );

    expect_ok(&c.rt(&["delete", "--force", &c.id]));
    assert_pid_gone(pid);
    c.assert_gone();
}

#[test]
fn delete_force_of_created_container() {
    let c = Ctr::new("delcreated", &["sleep", "30"]);
    c.create_ok();
    let pid = c.pid();
    expect_ok(&c.rt(&["delete", "--force", &c.id]));
    assert_pid_gone(pid);
    c.assert_gone();
}

#[test]
fn delete_force_unknown_id_succeeds() {
    let c = Ctr::new("delunknown", &["true"]);
    let out = c.rt(&["delete", "--force", &c.id]);
    assert_eq!(out.code, Some(0), "delete --force of an unknown id:\n{out}");
    let out = c.rt(&["delete", &c.id]);
    assert_eq!(out.code, Some(1), "delete of an unknown id:\n{out}");
    assert!(out.stderr.contains("does not exist"), "{out}");
}

#[test]
fn start_twice_fails() {
    let c = Ctr::new("starttwice", &["sleep", "30"]);
    c.create_ok();
    c.start_ok();
    let out = c.rt(&["start", &c.id]);
    assert_eq!(out.code, Some(1), "second start:\n{out}");
    assert_eq!(c.status(), "running");
}

/// The message names the container (runc 1.1.5 says only `container does not exist`).
#[test]
fn state_of_unknown_id() {
    let c = Ctr::new("nostate", &["true"]);
    let out = c.rt(&["state", &c.id]);
    expect_error(&out, &format!("container \"{}\" does not exist", c.id));
    c.assert_nothing_left();
}

#[test]
fn state_of_deleted_container() {
    let c = Ctr::new("deleted", &["true"]);
    c.create_ok();
    expect_ok(&c.rt(&["delete", "--force", &c.id]));
    let out = c.rt(&["state", &c.id]);
    expect_error(&out, &format!("container \"{}\" does not exist", c.id));
    c.assert_nothing_left();
}

#[test]
fn stopped_after_process_exits() {
    let c = Ctr::new("exits", &["true"]);
    c.create_ok();
    let pid = c.pid();
    c.start_ok();
    c.wait_status("stopped");
    assert_pid_gone(pid);
    expect_ok(&c.rt(&["delete", &c.id]));
    c.assert_gone();
}

#[test]
fn run_passes_exit_status() {
    let c = Ctr::new("exit7", &["sh", "-c", "exit 7"]);
    let out = c.run_with(&[]);
    assert_eq!(out.code, Some(7), "{out}");
    c.assert_gone();
}

#[test]
fn run_output_reaches_stdout() {
    let c = Ctr::new("echo", &["echo", "hello from busybox"]);
    let out = c.run_with(&[]);
    expect_ok(&out);
    assert_eq!(out.stdout, "hello from busybox\n", "{out}");
    c.assert_gone();
}

#[test]
fn run_detach_leaves_container_running() {
    let c = Ctr::new("detach", &["sleep", "30"]);
    let out = c.run_with(&["--detach"]);
    expect_ok(&out);
    assert_eq!(c.status(), "running");
    let pid = c.pid();
    assert!(alive(pid));
    expect_ok(&c.rt(&["delete", "--force", &c.id]));
    assert_pid_gone(pid);
    c.assert_gone();
}
