//! hoist-runtime's NOTIFY_SOCKET passthrough end to end, as root (issue 5, "systemd";
//! runc's notify_socket.go is the behaviour matched): a unix datagram socket of the
//! test stands in for systemd's, the container sends sd_notify messages with
//! `runtimetest notify` (busybox has no systemd-notify), and the fake systemd must get
//! READY=1 with MAINPID the right host pid, from `start`, `run --detach` (abstract
//! socket) and a foreground `run`. A container that exits without READY must not hang
//! `start`, and without NOTIFY_SOCKET nothing of it appears.
//!
//! The runtime is `$HOIST_RUNTIME` (runc passes these too), else the hoist-runtime
//! cargo built; the checker is `$HOIST_RUNTIMETEST`, else target/release/runtimetest
//! (`make runtimetest`). Containers come from the runtime tests' `support::Ctr`.

mod common;

// The runtime tests' helpers, of which these tests use a part.
#[allow(dead_code)]
#[path = "runtime/exec.rs"]
mod exec;
#[allow(dead_code)]
#[path = "runtime/leftovers.rs"]
mod leftovers;
#[allow(dead_code, unused_imports)]
#[path = "runtime/support.rs"]
mod support;

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use exec::CMD_TIMEOUT;
use support::{exec, expect_ok, output_file, rt_cmd, unique_id, Ctr};

/// The static checker, which has the `notify` subcommand.
fn runtimetest_bin() -> PathBuf {
    let p = std::env::var_os("HOIST_RUNTIMETEST")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::workspace().join("target/release/runtimetest"));
    assert!(
        p.exists(),
        "{} not built: run `make runtimetest`",
        p.display()
    );
    p
}

fn runtime_is_runc() -> bool {
    common::runtime_bin()
        .file_name()
        .is_some_and(|n| n == "runc")
}

/// A container running `script` under `sh -c`, with the checker at /runtimetest.
fn notify_ctr(name: &str, script: &str) -> Ctr {
    let c = Ctr::new(name, &["sh", "-c", script]);
    let dest = c.bundle.rootfs().join("runtimetest");
    std::fs::copy(runtimetest_bin(), &dest).expect("copy runtimetest into the rootfs");
    c
}

/// The stand-in for systemd: a bound datagram socket, read by a thread so that the
/// runtime's BARRIER=1 is answered (its fd closed) while the runtime waits.
struct FakeSystemd {
    /// What to put in NOTIFY_SOCKET.
    env: String,
    rx: mpsc::Receiver<String>,
    _dir: tempfile::TempDir,
}

impl FakeSystemd {
    fn at_path() -> Self {
        let dir = common::scratch("notify");
        let path = dir.path().join("systemd-notify.sock");
        let sock = UnixDatagram::bind(&path).expect("bind the fake systemd socket");
        Self::serve(sock, path.to_str().expect("utf-8 path").to_string(), dir)
    }

    fn abstract_name() -> Self {
        let name = unique_id("hoist-notify-test");
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract address");
        let sock = UnixDatagram::bind_addr(&addr).expect("bind the abstract socket");
        Self::serve(sock, format!("@{name}"), common::scratch("notify"))
    }

    fn serve(sock: UnixDatagram, env: String, dir: tempfile::TempDir) -> Self {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            // recv without a control buffer closes any fd passed (the barrier's pipe).
            while let Ok(n) = sock.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                if tx.send(msg).is_err() {
                    break;
                }
            }
        });
        FakeSystemd { env, rx, _dir: dir }
    }

    /// Every line received until READY=1 and a MAINPID= came (runc sends them in two
    /// datagrams, hoist-runtime in one), or `limit` passed.
    fn lines_until_ready(&self, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        let mut got: Vec<String> = Vec::new();
        while !(got.iter().any(|l| l == "READY=1") && got.iter().any(|l| l.starts_with("MAINPID=")))
        {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(m) => got.extend(m.lines().map(str::to_string)),
                Err(_) => break,
            }
        }
        got
    }

    /// Every line received within `limit`.
    fn lines_within(&self, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        let mut got = Vec::new();
        while let Ok(m) = self
            .rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            got.extend(m.lines().map(str::to_string));
        }
        got
    }
}

/// `create` then `start`, both with NOTIFY_SOCKET set.
fn create_start(c: &Ctr, notify_env: &str) -> support::Out {
    let mut create = c.create_cmd(&[]);
    create.env("NOTIFY_SOCKET", notify_env);
    expect_ok(&exec(create, Some(output_file(&c.stdout_path()))));
    let mut start = rt_cmd(&c.rt, &["start", &c.id]);
    start.env("NOTIFY_SOCKET", notify_env);
    exec(start, None)
}

fn assert_ready(lines: &[String], main_pid: i64) {
    assert!(
        lines.iter().any(|l| l == "READY=1"),
        "no READY=1: {lines:?}"
    );
    let mainpid = format!("MAINPID={main_pid}");
    assert!(
        lines.contains(&mainpid),
        "no {mainpid} (the container's own MAINPID must not pass): {lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l == "MAINPID=1"),
        "the container's MAINPID passed: {lines:?}"
    );
}

#[test]
fn start_waits_for_ready_and_passes_it_on_with_the_host_pid() {
    let fake = FakeSystemd::at_path();
    let c = notify_ctr(
        "notify-start",
        "echo \"$NOTIFY_SOCKET\" > /notify-env; /runtimetest notify STATUS=starting; \
         sleep 0.3; /runtimetest notify READY=1 MAINPID=1 || echo send-failed > /notify-env; \
         exec sleep 30",
    );
    let started = create_start(&c, &fake.env);
    expect_ok(&started);
    // start returned only after READY reached the fake systemd: it is queued already.
    let lines = fake.lines_until_ready(Duration::from_millis(200));
    assert_ready(&lines, c.pid());
    // runc 1.1 passes only the READY line on; hoist-runtime passes every message.
    if !runtime_is_runc() {
        assert!(lines.iter().any(|l| l == "STATUS=starting"), "{lines:?}");
    }
    let env = std::fs::read_to_string(c.bundle.rootfs().join("notify-env")).unwrap_or_default();
    assert_eq!(
        env.trim(),
        "/run/notify/notify.sock",
        "NOTIFY_SOCKET inside"
    );
    assert_eq!(c.status(), "running");
    assert!(
        c.rt.root.path().join(&c.id).join("notify").is_dir(),
        "no notify dir in the state dir"
    );
    expect_ok(&c.rt(&["delete", "--force", &c.id]));
    c.assert_gone();
}

#[test]
fn run_detach_passes_ready_to_an_abstract_socket() {
    let fake = FakeSystemd::abstract_name();
    let c = notify_ctr(
        "notify-abstract",
        "/runtimetest notify READY=1 STATUS=up; exec sleep 30",
    );
    let mut run = rt_cmd(
        &c.rt,
        &["run", "--detach", "--bundle", c.bundle_str(), &c.id],
    );
    run.env("NOTIFY_SOCKET", &fake.env);
    expect_ok(&exec(run, Some(output_file(&c.stdout_path()))));
    let lines = fake.lines_until_ready(Duration::from_millis(200));
    assert_ready(&lines, c.pid());
    expect_ok(&c.rt(&["delete", "--force", &c.id]));
    c.assert_gone();
}

#[test]
fn foreground_run_passes_ready_with_its_own_pid() {
    let fake = FakeSystemd::at_path();
    let c = notify_ctr("notify-run", "/runtimetest notify READY=1 && sleep 0.5");
    let mut run = rt_cmd(&c.rt, &["run", "--bundle", c.bundle_str(), &c.id]);
    let stderr_path = c.io.path().join("run-stderr");
    run.env("NOTIFY_SOCKET", &fake.env)
        .stdout(Stdio::null())
        .stderr(output_file(&stderr_path));
    let mut child = run.spawn().expect("spawn run");
    let runtime_pid = i64::from(child.id());
    let lines = fake.lines_until_ready(CMD_TIMEOUT);
    let deadline = Instant::now() + CMD_TIMEOUT;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for run") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("run still going after {CMD_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(status.success(), "run: {status}; stderr:\n{stderr}");
    assert_ready(&lines, runtime_pid);
    c.assert_gone();
}

#[test]
fn start_returns_when_the_container_exits_without_ready() {
    let fake = FakeSystemd::at_path();
    let c = notify_ctr("notify-noready", "sleep 0.2; exit 3");
    let started = create_start(&c, &fake.env);
    // runc returns success too: the unit manager sees its main process end unready.
    expect_ok(&started);
    c.wait_status("stopped");
    let lines = fake.lines_within(Duration::from_millis(100));
    assert!(!lines.iter().any(|l| l == "READY=1"), "{lines:?}");
    expect_ok(&c.rt(&["delete", &c.id]));
    c.assert_gone();
}

#[test]
fn without_notify_socket_there_is_no_notify_dir() {
    let c = notify_ctr("notify-none", "env > /env-inside; exec sleep 30");
    let mut create = c.create_cmd(&[]);
    create.env_remove("NOTIFY_SOCKET");
    expect_ok(&exec(create, Some(output_file(&c.stdout_path()))));
    assert!(
        !c.rt.root.path().join(&c.id).join("notify").exists(),
        "notify dir made without NOTIFY_SOCKET"
    );
    let mut start = rt_cmd(&c.rt, &["start", &c.id]);
    start.env_remove("NOTIFY_SOCKET");
    expect_ok(&exec(start, None));
    let env_file = c.bundle.rootfs().join("env-inside");
    let env = support::poll(support::SETTLE, || {
        std::fs::read_to_string(&env_file)
            .ok()
            .filter(|s| !s.is_empty())
    })
    .unwrap_or_default();
    assert!(env.contains("PATH="), "container env not written: {env:?}");
    assert!(!env.contains("NOTIFY_SOCKET"), "{env}");
    expect_ok(&c.rt(&["delete", "--force", &c.id]));
    c.assert_gone();
}

/// `start` with NOTIFY_SOCKET for a container created without it just starts (runc
/// 1.1 fails to bind there instead; nothing could reach the caller either way).
#[test]
fn start_with_notify_socket_after_plain_create_just_starts() {
    if common::runtime_bin()
        .file_name()
        .is_some_and(|n| n == "runc")
    {
        eprintln!("skipped: runc 1.1 fails this start by design");
        return;
    }
    let fake = FakeSystemd::at_path();
    let c = notify_ctr("notify-late", "exec sleep 30");
    let mut create = c.create_cmd(&[]);
    create.env_remove("NOTIFY_SOCKET");
    expect_ok(&exec(create, Some(output_file(&c.stdout_path()))));
    let mut start = rt_cmd(&c.rt, &["start", &c.id]);
    start.env("NOTIFY_SOCKET", &fake.env);
    expect_ok(&exec(start, None));
    assert_eq!(c.status(), "running");
    expect_ok(&c.rt(&["delete", "--force", &c.id]));
    c.assert_gone();
}
