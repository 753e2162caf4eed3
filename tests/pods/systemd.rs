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
