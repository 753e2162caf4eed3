//! systemd: `--notify` sends READY=1 (and MAINPID) to `$NOTIFY_SOCKET` once the apps
//! run, and `hoist unit` writes a unit that runs the same pod.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use crate::common::run::{exec, expect_ok};
use crate::support::Env;

#[test]
fn notify_socket_gets_ready() {
    let env = Env::new("notify", "hoist");
    let sock_path = env.dir().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut cmd = env.command(&[
        "run",
        "--stage1",
        &env.stage1,
        "--net",
        "none",
        "--notify",
        "busybox",
        "--exec",
        "/bin/sleep",
        "--",
        "1",
    ]);
    cmd.env("NOTIFY_SOCKET", &sock_path);
    let out = exec(cmd, None);
    expect_ok(&out);
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).expect("a notification");
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(msg.contains("READY=1"), "{msg}");
    assert!(msg.contains("MAINPID="), "{msg}");
}

/// An app that speaks sd_notify (`--notify` after its image) makes the pod ready with
/// its own READY=1, passed on by the stage1 (runc's passthrough, and hoist-runtime's).
fn app_readiness(stage1: &str) {
    let env = Env::new("notify-app", stage1);
    let sock_path = env.dir().join("n.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let rt = format!("{}:/rt:ro", crate::common::runtimetest_bin().display());
    let mut cmd = env.command(&[
        "run",
        "--stage1",
        &env.stage1,
        "--net",
        "none",
        "--notify",
        "--volume",
        &rt,
        "busybox",
        "--notify",
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "echo > /dev/shm/before; sleep 1; /rt notify READY=1; sleep 1",
    ]);
    cmd.env("NOTIFY_SOCKET", &sock_path);
    let start = std::time::Instant::now();
    let child = cmd.stdout(std::process::Stdio::null()).spawn().unwrap();
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).expect("a notification");
    let waited = start.elapsed();
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(msg.contains("READY=1"), "{msg}");
    assert!(
        msg.contains(&format!("MAINPID={}", child.id())),
        "MAINPID is the supervisor: {msg}"
    );
    assert!(
        waited >= Duration::from_millis(900),
        "READY came before the app said it ({waited:?})"
    );
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    // An app marked --notify that ends without READY=1 ends the wait (runc 1.1 itself
    // would wait for ever), and the pod with it.
    let mut cmd = env.command(&[
        "run",
        "--stage1",
        &env.stage1,
        "--net",
        "none",
        "--notify",
        "busybox",
        "--notify",
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "exit 3",
    ]);
    cmd.env("NOTIFY_SOCKET", &sock_path);
    let out = crate::common::run::exec(cmd, None);
    assert_eq!(out.code, Some(3), "{out}");
}

mod notify_stage1 {
    #[test]
    fn app_readiness_hoist() {
        super::app_readiness("hoist");
    }
    #[test]
    fn app_readiness_runc() {
        super::app_readiness("runc");
    }
}

#[test]
fn unit_file() {
    let env = Env::new("unit", "hoist");
    let out = env.hoist(&["unit", "--net", "none", "busybox", "--", "echo", "hi there"]);
    expect_ok(&out);
    let u = out.stdout;
    for line in [
        "Type=notify",
        "KillMode=mixed",
        "Delegate=yes",
        "ExecStopPost=",
        "ExecStartPre=-",
    ] {
        assert!(u.contains(line), "{line} missing:\n{u}");
    }
    assert!(
        u.contains(r#"run --notify --net none busybox -- echo "hi there""#),
        "{u}"
    );
    assert!(u.contains(&format!("--dir {}", env.dir().display())), "{u}");
}
