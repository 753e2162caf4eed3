//! `exec --tty --console-socket`: the test is the receiver a shim would be. It listens
//! on a unix socket, takes the pty master the runtime sends with SCM_RIGHTS, and reads
//! the exec'd process's terminal output from it. The call is containerd's
//! (`exec --detach --pid-file F --console-socket S`): runc refuses a console socket
//! without `--detach`.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use crate::common::run::recv_fd;
use crate::common::scratch;
use crate::support::{lines, output_file, read, rt_cmd, Ctr, SETTLE};

/// Kills the exec command when the test ends early.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + SETTLE;
        loop {
            if let Some(st) = self.0.try_wait().expect("wait for exec") {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "exec --tty --detach never returned"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Accepts the runtime's connection, failing early if exec exits without one.
fn accept(listener: &UnixListener, exec: &mut Running, err: &std::path::Path) -> UnixStream {
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
        if let Ok(Some(st)) = exec.0.try_wait() {
            panic!(
                "exec exited ({st}) without connecting to the console socket: {}",
                read(err)
            );
        }
        assert!(
            Instant::now() < deadline,
            "exec never connected to the console socket"
        );
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
        assert!(
            r != 0,
            "terminal never hung up; read so far: {:?}",
            String::from_utf8_lossy(&got)
        );
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
fn exec_tty_sends_the_pty_master() {
    let c = Ctr::new("exec-tty", &["sleep", "60"]);
    c.launch();
    let dir = scratch("console");
    let sock = dir.path().join("console.sock");
    let listener = UnixListener::bind(&sock).expect("bind console socket");
    let pid_file = c.io.path().join("exec.pid");

    let args = [
        "exec",
        "--tty",
        "--detach",
        "--pid-file",
        pid_file.to_str().expect("utf-8 path"),
        "--console-socket",
        sock.to_str().expect("utf-8 path"),
        &c.id,
        "sh",
        "-c",
        "tty; [ -t 0 ] && [ -t 1 ] && echo ok",
    ];
    let mut cmd = rt_cmd(&c.rt, &args);
    let err = c.io.path().join("exec.err");
    cmd.stdout(output_file(&c.io.path().join("exec.out")));
    cmd.stderr(output_file(&err));
    let mut exec = Running(cmd.spawn().expect("spawn exec"));

    let stream = accept(&listener, &mut exec, &err);
    let master = recv_fd(&stream);
    let st = exec.wait();
    assert!(
        st.success(),
        "exec --tty --detach failed ({st}): {}",
        read(&err)
    );
    let pid = read(&pid_file);
    assert!(
        pid.trim().parse::<u32>().is_ok(),
        "exec --pid-file holds {pid:?}"
    );
    let text = read_until_hangup(master);
    let got = lines(&text);
    assert_eq!(got.len(), 2, "terminal output: {text:?}");
    assert!(
        got[0].starts_with("/dev/pts/") && got[0]["/dev/pts/".len()..].parse::<u32>().is_ok(),
        "tty printed {:?}",
        got[0]
    );
    assert_eq!(got[1], "ok", "stdin and stdout are the terminal: {text:?}");
    c.delete_force_ok();
}
