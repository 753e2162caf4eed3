//! `exec`: another process in a running container, as containerd's shim and podman
//! start them: its output and exit status, the container's namespaces and cgroup,
//! the flags that shape the process, `--process FILE`, `--detach --pid-file`, and the
//! refusals.

use std::fs;

use serde_json::json;

use crate::support::{alive, exec, expect_ok, is_runc, lines, poll, rt_cmd, Ctr, Out, SETTLE};

/// The exit status of an `exec` that fails before the process runs: hoist-runtime's
/// one for bad input (1); runc 1.1.5 exits 255 on every exec error.
fn exec_error_code() -> Option<i32> {
    Some(if is_runc() { 255 } else { 1 })
}

/// A running container (init `sleep 60`, hostname `res-exec`) to exec into.
fn running(name: &str) -> Ctr {
    let mut c = Ctr::new(name, &["sleep", "60"]);
    c.config()["hostname"] = json!("res-exec");
    c.write();
    c.launch();
    c
}

fn exec_in(c: &Ctr, args: &[&str]) -> Out {
    let mut v = vec!["exec"];
    v.extend(args);
    exec(rt_cmd(&c.rt, &v), None)
}

#[test]
fn exec_output_and_exit_status() {
    let c = running("exec-status");
    let out = exec_in(&c, &[&c.id, "sh", "-c", "echo hi; echo err >&2; exit 3"]);
    assert_eq!(out.code, Some(3), "exec passes on the exit status:\n{out}");
    assert_eq!(out.stdout, "hi\n", "{out}");
    assert_eq!(out.stderr, "err\n", "{out}");
    c.delete_force_ok();
}

#[test]
fn exec_joins_namespaces_and_cgroup() {
    let c = running("exec-ns");
    let script = "hostname; tr '\\0' ' ' < /proc/1/cmdline; echo; \
                  [ \"$(cat /proc/self/cgroup)\" = \"$(cat /proc/1/cgroup)\" ] && echo same-cgroup; \
                  for n in mnt uts ipc net pid cgroup; do \
                    [ \"$(readlink /proc/self/ns/$n)\" = \"$(readlink /proc/1/ns/$n)\" ] \
                      || echo other-$n; \
                  done";
    let out = exec_in(&c, &[&c.id, "sh", "-c", script]);
    expect_ok(&out);
    assert_eq!(
        lines(&out.stdout),
        ["res-exec", "sleep 60", "same-cgroup"],
        "{out}"
    );
    c.delete_force_ok();
}

#[test]
fn exec_env_cwd_and_user() {
    let c = running("exec-flags");
    let out = exec_in(
        &c,
        &[
            "--env",
            "FOO=bar baz",
            "--cwd",
            "/tmp",
            "--user",
            "1000:1000",
            &c.id,
            "sh",
            "-c",
            "echo \"$FOO\"; pwd; id -u; id -g",
        ],
    );
    expect_ok(&out);
    assert_eq!(
        lines(&out.stdout),
        ["bar baz", "/tmp", "1000", "1000"],
        "{out}"
    );
    c.delete_force_ok();
}

#[test]
fn exec_detach_writes_the_pid_file() {
    let c = running("exec-detach");
    let pid_file = c.io.path().join("exec.pid");
    let out = exec_in(
        &c,
        &[
            "--detach",
            "--pid-file",
            pid_file.to_str().expect("utf-8 path"),
            &c.id,
            "sleep",
            "30",
        ],
    );
    expect_ok(&out);
    let pid: i64 = fs::read_to_string(&pid_file)
        .expect("exec --pid-file written")
        .trim()
        .parse()
        .expect("pid file holds a pid");
    assert!(alive(pid), "detached exec process {pid} is not running");

    let ps = c.rt(&["ps", "--format", "json", &c.id]);
    expect_ok(&ps);
    let pids: Vec<i64> = serde_json::from_str(ps.stdout.trim()).expect("ps JSON");
    assert!(pids.contains(&pid), "{pid} not in ps: {pids:?}");
    assert!(pids.contains(&c.pid()), "init not in ps: {pids:?}");

    // Seen from the host: the init's namespaces and the container's cgroup.
    let init = c.pid();
    for ns in ["mnt", "uts", "ipc", "net", "pid", "cgroup"] {
        let a = fs::read_link(format!("/proc/{pid}/ns/{ns}")).expect("exec ns");
        let b = fs::read_link(format!("/proc/{init}/ns/{ns}")).expect("init ns");
        assert_eq!(a, b, "exec'd process is in another {ns} namespace");
    }
    let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("exec cgroup");
    assert!(
        cg.lines()
            .filter(|l| l.contains(":pids:") || l.contains(":memory:"))
            .all(|l| l.ends_with(&c.cgroup())),
        "exec'd process not in {}:\n{cg}",
        c.cgroup()
    );
    c.delete_force_ok();
    assert!(
        poll(SETTLE, || (!alive(pid)).then_some(())).is_some(),
        "detached exec process {pid} survived delete --force"
    );
}

#[test]
fn exec_process_file() {
    let c = running("exec-process");
    let process = json!({
        "terminal": false,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh", "-c", "echo \"from-process $X\"; pwd; exit 4"],
        "env": ["PATH=/usr/bin:/bin", "X=y"],
        "cwd": "/etc",
        "noNewPrivileges": true
    });
    let file = c.io.path().join("process.json");
    fs::write(&file, process.to_string()).expect("write process.json");
    let out = exec_in(
        &c,
        &["--process", file.to_str().expect("utf-8 path"), &c.id],
    );
    assert_eq!(out.code, Some(4), "{out}");
    assert_eq!(lines(&out.stdout), ["from-process y", "/etc"], "{out}");
    c.delete_force_ok();
}

#[test]
fn exec_into_a_stopped_container_fails() {
    let c = Ctr::new("exec-stopped", &["true"]);
    c.launch();
    c.wait_status("stopped");
    let out = exec_in(&c, &[&c.id, "true"]);
    assert_eq!(out.code, exec_error_code(), "{out}");
    assert!(
        out.stderr.to_lowercase().contains("not running")
            || out.stderr.to_lowercase().contains("stopped"),
        "the error should say the container is not running:\n{out}"
    );
    c.delete_force_ok();
}

/// An unknown command is refused before anything runs, with the phrase engines map
/// to exit code 127, and exec itself fails.
#[test]
fn exec_of_an_unknown_command_fails() {
    let c = running("exec-enoent");
    let out = exec_in(&c, &[&c.id, "no-such-command"]);
    assert!(
        out.stderr.contains("executable file not found"),
        "want runc's \"executable file not found\" phrase:\n{out}"
    );
    assert_eq!(out.code, exec_error_code(), "{out}");
    assert_eq!(
        c.status(),
        "running",
        "a failed exec must not hurt the container"
    );
    c.delete_force_ok();
}
