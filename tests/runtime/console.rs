//! process.terminal with `--console-socket`: the test is the receiver a shim would be.
//! It listens on a unix socket, takes the pty master the runtime sends with
//! SCM_RIGHTS, and reads the container's terminal output from it.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::run::recv_fd;
use crate::common::scratch;
use crate::support::{expect_ok, read, Ctr, SETTLE};

/// Accepts the runtime's connection, failing early if `create` exits without one.
fn accept(listener: &UnixListener, create: &mut Child, c: &Ctr) -> UnixStream {
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let deadline = Instant::now() + SETTLE;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).expect("blocking stream");
                s.set_read_timeout(Some(SETTLE)).expect("read timeout");
                return s;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("accept: {e}"),
        }
        if let Ok(Some(st)) = create.try_wait() {
            panic!(
                "create exited ({st}) without connecting to the console socket: {}",
                read(c.io.path().join("stderr"))
            );
        }
        if Instant::now() > deadline {
            let _ = create.kill();
            panic!("create never connected to the console socket");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Reads the pty master until the last slave closes (EIO) or EOF.
fn read_until_hangup(master: OwnedFd) -> String {
    let mut f = File::from(master);
    let mut got = Vec::new();
    let deadline = Instant::now() + SETTLE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut pfd = libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd for an fd `f` owns, for the length of the call.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r == 0 {
            panic!(
                "terminal never hung up; read so far: {:?}",
                String::from_utf8_lossy(&got)
            );
        }
        let mut buf = [0u8; 4096];
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("read the pty master: {e}"),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn console_socket_receives_the_pty_master() {
    let mut c = Ctr::new("tty", &["sh", "-c", "tty; [ -t 0 ] && [ -t 1 ] && echo ok"]);
    c.config()["process"]["terminal"] = json!(true);
    c.write();
    let dir = scratch("console");
    let sock = dir.path().join("console.sock");
    let listener = UnixListener::bind(&sock).expect("bind console socket");

    let sock_s = sock.to_str().expect("utf-8 path");
    let mut cmd = c.create_cmd(&["--console-socket", sock_s]);
    cmd.stdout(File::create(c.io.path().join("stdout")).expect("stdout file"));
    cmd.stderr(File::create(c.io.path().join("stderr")).expect("stderr file"));
    let mut create = cmd.spawn().expect("spawn create");

    let stream = accept(&listener, &mut create, &c);
    let master = recv_fd(&stream);
    let deadline = Instant::now() + SETTLE;
    let status = loop {
        if let Some(st) = create.try_wait().expect("wait for create") {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "create hangs after sending the console"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(
        status.success(),
        "create failed ({status}): {}",
        read(c.io.path().join("stderr"))
    );
    assert_eq!(c.status(), "created");

    c.start_ok();
    let text = read_until_hangup(master);
    let lines = crate::support::lines(&text);
    assert_eq!(lines, ["/dev/pts/0", "ok"], "terminal output: {text:?}");
    c.wait_status("stopped");
    expect_ok(&c.rt(&["delete", &c.id]));
    c.assert_gone();
}
