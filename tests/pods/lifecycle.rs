//! A pod's life without a daemon: `--detach`, `list`, `status [--wait]`, `logs`,
//! `enter`, `stop`, `rm`, `gc`, `prepare` + `run-prepared`, `cat-manifest`, signals to
//! a foreground `hoist run`, and a supervisor killed with SIGKILL cleaned up by `gc`.

use std::process::Stdio;
use std::time::Duration;

use crate::common::run::{expect_error, expect_ok, poll};
use crate::support::Env;

stage1_tests!(detached_pod_life, stop_sigterm_then_sigkill);

fn detached_pod_life(stage1: &str) {
    let env = Env::new("detach", stage1);
    let save = env.dir().join("uuid");
    let uuid = env.detach(&[
        "--net",
        "none",
        "--name",
        "life",
        "--uuid-file-save",
        save.to_str().unwrap(),
        "busybox",
        "--name",
        "main",
        "--",
        "sh",
        "-c",
        "echo started; trap 'echo bye; exit 0' TERM; while :; do sleep 0.1; done",
    ]);
    assert_eq!(std::fs::read_to_string(&save).unwrap().trim(), uuid);
    let st = env.status("life");
    assert_eq!(st["state"], "running", "{st}");
    assert_eq!(st["uuid"], uuid.as_str());
    assert!(st["pid"].as_i64().is_some_and(|p| p > 1), "{st}");

    let list = env.hoist(&["list", "--format", "json"]);
    let list: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["uuid"] == uuid.as_str() && p["state"] == "running"));
    let table = env.hoist(&["list"]);
    assert!(
        table.stdout.lines().next().unwrap().starts_with("UUID"),
        "{table}"
    );
    assert!(table.stdout.contains(&uuid), "{table}");

    let m = env.hoist(&["cat-manifest", &uuid[..8]]);
    expect_ok(&m);
    let m: serde_json::Value = serde_json::from_str(&m.stdout).unwrap();
    assert_eq!(m["apps"][0]["name"], "main");
    assert!(m["apps"][0]["digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));

    let e = env.hoist(&[
        "enter",
        "life",
        "--",
        "sh",
        "-c",
        "echo inside $(hostname); exit 5",
    ]);
    assert_eq!(e.code, Some(5), "enter passes the exit status on:\n{e}");
    assert_eq!(e.stdout, "inside life\n", "{e}");
    let e = env.hoist(&["enter", "--app", "nope", "life", "--", "true"]);
    expect_error(&e, "no app `nope`");

    let logs = poll(Duration::from_secs(5), || {
        let l = env.hoist(&["logs", "life"]);
        l.stdout.contains("started").then_some(l)
    });
    assert!(logs.is_some(), "logs show the app's output");

    let stop = env.hoist(&["stop", "life"]);
    expect_ok(&stop);
    let st = env.status(&uuid);
    assert_eq!(st["state"], "exited", "{st}");
    assert_eq!(st["apps"][0]["exit"], 0, "the app's TERM trap ran: {st}");
    let logs = env.hoist(&["logs", "life"]);
    assert!(logs.stdout.contains("bye"), "{logs}");
    env.assert_clean(&uuid, &[]);

    let e = env.hoist(&["enter", "life", "--", "true"]);
    expect_error(&e, "exited");
    let rm = env.hoist(&["rm", "life"]);
    expect_ok(&rm);
    assert!(env.pod_dirs().is_empty());
    expect_error(&env.hoist(&["status", "life"]), "no pod `life`");

    // An app that ends at once: `run --detach` still reports the pod it started.
    let quick = env.detach(&["--net", "none", "busybox", "--", "sh", "-c", "exit 3"]);
    let st = poll(Duration::from_secs(10), || {
        let st = env.status(&quick);
        (st["state"] == "exited").then_some(st)
    });
    let st = st.expect("the pod ends");
    assert_eq!(st["apps"][0]["exit"], 3, "{st}");
    env.assert_clean(&quick, &[]);
}

fn stop_sigterm_then_sigkill(stage1: &str) {
    let env = Env::new("sigkill", stage1);
    // sleep as a pid namespace's init ignores SIGTERM: SIGKILL follows the timeout.
    let uuid = env.sleeper(&["--net", "none", "--stop-timeout", "1"]);
    let stop = env.hoist(&["stop", &uuid]);
    expect_ok(&stop);
    let st = env.status(&uuid);
    assert_eq!(st["apps"][0]["exit"], 137, "{st}");
    env.assert_clean(&uuid, &[]);
    let uuid = env.sleeper(&["--net", "none"]);
    expect_ok(&env.hoist(&["stop", "--force", &uuid]));
    assert_eq!(env.status(&uuid)["apps"][0]["exit"], 137);
    expect_ok(&env.hoist(&["gc", "--grace-period", "0s"]));
    assert!(env.pod_dirs().is_empty(), "gc removed the exited pods");
}

#[test]
fn prepare_then_run_prepared() {
    let env = Env::new("prepare", "hoist");
    let out = env.hoist(&[
        "prepare",
        "--net",
        "none",
        "--stage1",
        &env.stage1,
        "busybox",
        "--exec",
        "/bin/echo",
        "--",
        "prepared",
    ]);
    expect_ok(&out);
    let uuid = out.stdout.trim().to_owned();
    assert_eq!(env.status(&uuid)["state"], "prepared");
    let out = env.hoist(&["run-prepared", &uuid]);
    expect_ok(&out);
    assert_eq!(out.stdout, "prepared\n");
    assert_eq!(env.status(&uuid)["state"], "exited");
    expect_error(&env.hoist(&["run-prepared", &uuid]), "only a prepared pod");
}

#[test]
fn foreground_run_forwards_sigterm() {
    let env = Env::new("fg-term", "hoist");
    let mut cmd = env.command(&[
        "run",
        "--stage1",
        &env.stage1,
        "--net",
        "none",
        "busybox",
        "--",
        "sh",
        "-c",
        "trap 'exit 42' TERM; echo ready; while :; do sleep 0.1; done",
    ]);
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = [0u8; 6];
    std::io::Read::read_exact(&mut stdout, &mut buf).unwrap();
    assert_eq!(&buf, b"ready\n");
    signal(i64::from(child.id()), "TERM");
    let status =
        poll(Duration::from_secs(15), || child.try_wait().unwrap()).expect("hoist run ended");
    assert_eq!(
        status.code(),
        Some(42),
        "the app's exit status after its TERM trap"
    );
}

#[test]
fn supervisor_killed_then_gc_cleans_up() {
    let mut env = Env::new("crash", "hoist");
    let net = env.network("hoist-test-crash", 63);
    let uuid = env.sleeper(&["--net", &net]);
    let st = env.status(&uuid);
    let ip = st["networks"][0]["ips"][0].as_str().unwrap().to_owned();
    let pid = st["pid"].as_i64().unwrap();
    signal(pid, "KILL");
    let dead = poll(Duration::from_secs(5), || {
        (env.status(&uuid)["state"] == "dead").then_some(())
    });
    assert!(dead.is_some(), "a pod whose supervisor died is dead");
    let gc = env.hoist(&["gc", "--grace-period", "0s"]);
    expect_ok(&gc);
    assert!(
        env.pod_dirs().is_empty(),
        "gc tore the dead pod down and removed it"
    );
    env.assert_clean(&uuid, std::slice::from_ref(&ip));
    assert!(
        !std::path::Path::new(&format!("/var/lib/cni/networks/{net}/{ip}")).exists(),
        "IP released"
    );
}

/// `kill -SIG PID`.
fn signal(pid: i64, sig: &str) {
    let ok = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -{sig} {pid}");
}

#[test]
fn image_gc_keeps_a_running_pods_layers() {
    let env = Env::new("imagegc", "hoist");
    let uuid = env.sleeper(&["--net", "none"]);
    expect_ok(&env.hoist(&["image", "rm", "busybox"]));
    expect_ok(&env.hoist(&["image", "gc"]));
    let layers: Vec<_> = std::fs::read_dir(env.dir().join("layers"))
        .unwrap()
        .collect();
    assert!(!layers.is_empty(), "the running pod's layers are kept");
    let e = env.hoist(&["enter", &uuid, "--", "ls", "/bin/busybox"]);
    expect_ok(&e);
    expect_ok(&env.hoist(&["stop", "--force", &uuid]));
    expect_ok(&env.hoist(&["image", "gc"]));
    let layers: Vec<_> = std::fs::read_dir(env.dir().join("layers"))
        .unwrap()
        .collect();
    assert!(
        layers.is_empty(),
        "once the pod is over its untagged image goes"
    );
}

#[test]
fn logs_follow_and_status_wait() {
    let env = Env::new("follow", "hoist");
    let uuid = env.detach(&[
        "--net",
        "none",
        "busybox",
        "--",
        "sh",
        "-c",
        "echo first; sleep 1; echo second",
    ]);
    let logs = env.hoist(&["logs", "--follow", &uuid]);
    expect_ok(&logs);
    assert!(
        logs.stdout.contains("first\nsecond\n"),
        "--follow reads until the pod ends:\n{logs}"
    );
    let st = env.hoist(&["status", "--wait=20s", &uuid]);
    expect_ok(&st);
    assert!(
        st.stdout.contains("state=exited\n") && st.stdout.contains("app-busybox=0\n"),
        "{st}"
    );
    let uuid = env.sleeper(&["--net", "none"]);
    let st = env.hoist(&["status", "--wait=1s", &uuid]);
    expect_error(&st, "still running");
}
