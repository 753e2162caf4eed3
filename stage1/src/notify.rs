//! sd_notify passthrough (`NOTIFY_SOCKET`), as runc does it, for containers started by
//! systemd units or by engines that run us under one.
//!
//! - `create`/`run` with `NOTIFY_SOCKET` set: `<root>/<id>/notify/` is made and
//!   bind-mounted read-only (nosuid, noexec, nodev) at `/run/notify` in the container,
//!   whose process gets `NOTIFY_SOCKET=/run/notify/notify.sock` (runc 1.1's paths).
//! - `start`/`run` with `NOTIFY_SOCKET` set: a datagram socket is bound at
//!   `<root>/<id>/notify/notify.sock` before the process is released; what the container
//!   sends there goes on to the caller's socket (a path, or `@name` for an abstract one)
//!   with `MAINPID` rewritten to a host pid. `start` (and `run --detach`) return once
//!   `READY=` was passed on, or once the container's init is gone (runc returns success
//!   then too). runc polls /proc/PID every 100 ms, which never ends while the init is an
//!   unreaped zombie; we poll the init's pidfd.
//!
//! Differences from runc 1.1, all in the caller's favour: every line of every datagram is
//! passed on (runc passes only a first `READY=` line and drops `STATUS=`), `MAINPID` and
//! `READY` go in one datagram followed by a `BARRIER=1` wait (runc ≥ 1.2 does the barrier),
//! a `start` without a notify directory (create had no `NOTIFY_SOCKET`) just starts, and
//! a state dir path longer than `sun_path` still works (the bind goes through the dir fd).
//!
//! Without `NOTIFY_SOCKET` none of this runs: one environment lookup per command.

use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::{Path, PathBuf};

use crate::spec::{Mount, Spec};
use crate::{logging, sys};

/// The directory in the state dir, and where it appears in the container.
const DIR: &str = "notify";
const SOCKET: &str = "notify.sock";
const IN_CONTAINER: &str = "/run/notify";
/// How long to wait for the caller to acknowledge `BARRIER=1` (runc's 30 s).
const BARRIER_TIMEOUT_MS: i32 = 30_000;
/// sd_notify messages fit in one page (systemd's NOTIFY_BUFFER_MAX).
const MAX_MESSAGE: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("create notify dir `{}`", path.display())]
    Mkdir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("bind notify socket `{}`", path.display())]
    Bind {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("connect to NOTIFY_SOCKET `{}`", host.to_string_lossy())]
    Connect {
        host: OsString,
        #[source]
        source: std::io::Error,
    },
    #[error("watch the container process {pid}")]
    Pidfd {
        pid: libc::pid_t,
        #[source]
        source: std::io::Error,
    },
    #[error("{step}")]
    Io {
        step: &'static str,
        #[source]
        source: std::io::Error,
    },
}

fn io(step: &'static str) -> impl FnOnce(std::io::Error) -> NotifyError {
    move |source| NotifyError::Io { step, source }
}

/// The caller's notify socket, when `NOTIFY_SOCKET` is set and not empty.
pub fn host_socket() -> Option<OsString> {
    std::env::var_os("NOTIFY_SOCKET").filter(|s| !s.is_empty())
}

/// `create`: when the caller has a notify socket, makes `<dir>/notify` and gives the
/// container the mount and the env var that lead to it.
pub fn prepare(dir: &Path, spec: &mut Spec) -> Result<(), NotifyError> {
    if host_socket().is_none() {
        return Ok(());
    }
    let notify_dir = dir.join(DIR);
    std::fs::create_dir(&notify_dir)
        .and_then(|()| std::fs::set_permissions(&notify_dir, PermissionsExt::from_mode(0o755)))
        .map_err(|source| NotifyError::Mkdir {
            path: notify_dir.clone(),
            source,
        })?;
    add_to_spec(&notify_dir, spec);
    Ok(())
}

fn add_to_spec(notify_dir: &Path, spec: &mut Spec) {
    spec.mounts.push(Mount {
        destination: PathBuf::from(IN_CONTAINER),
        kind: None,
        source: Some(notify_dir.to_path_buf()),
        options: ["bind", "nosuid", "noexec", "nodev", "ro"]
            .map(String::from)
            .to_vec(),
    });
    if let Some(p) = spec.process.as_mut() {
        // Ours replaces one the config may carry: the host's path means nothing inside.
        p.env.retain(|e| !e.starts_with("NOTIFY_SOCKET="));
        p.env.push(format!("NOTIFY_SOCKET={IN_CONTAINER}/{SOCKET}"));
    }
}

/// The container's end of the passthrough: our socket in its notify dir, connected on
/// to the caller's, and the container's init watched through a pidfd.
pub struct Listener {
    sock: UnixDatagram,
    host: UnixDatagram,
    pidfd: OwnedFd,
    pid: libc::pid_t,
}

impl Listener {
    /// `start`/`run`, before the process is released: binds the container's socket when
    /// the caller has one and the container was created with a notify dir.
    pub fn bind(dir: &Path, pid: libc::pid_t) -> Result<Option<Listener>, NotifyError> {
        let Some(host) = host_socket() else {
            return Ok(None);
        };
        let notify_dir = dir.join(DIR);
        let dir_fd = match std::fs::File::open(&notify_dir) {
            Ok(f) => OwnedFd::from(f),
            // create ran without NOTIFY_SOCKET: the container has nowhere to send to.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(NotifyError::Bind {
                    path: notify_dir,
                    source,
                })
            }
        };
        let path = notify_dir.join(SOCKET);
        let bind_err = |source| NotifyError::Bind {
            path: path.clone(),
            source,
        };
        // Through the dir fd: `<root>/<id>/notify/notify.sock` can be longer than the
        // 108 bytes of sun_path (containerd's roots and 64-hex ids are).
        let short = PathBuf::from(format!("/proc/self/fd/{}/{SOCKET}", dir_fd.as_raw_fd()));
        // A socket left by an earlier start that failed.
        let _ = std::fs::remove_file(&short);
        let sock = UnixDatagram::bind(&short).map_err(bind_err)?;
        // Any user in the container may notify (runc: 0777).
        std::fs::set_permissions(&short, PermissionsExt::from_mode(0o777)).map_err(bind_err)?;
        let host_conn = connect(&host)?;
        let pidfd = sys::pidfd_open(pid).map_err(|source| NotifyError::Pidfd { pid, source })?;
        Ok(Some(Listener {
            sock,
            host: host_conn,
            pidfd,
            pid,
        }))
    }

    /// The fd to poll for messages from the container.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }

    /// `start` and `run --detach`: passes messages on until one says `READY=`, with
    /// `MAINPID` the container's init; returns early (Ok) when the init exits first.
    pub fn wait_ready(&self) -> Result<(), NotifyError> {
        loop {
            let mut fds = [
                libc::pollfd {
                    fd: self.sock.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.pidfd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            sys::poll(&mut fds, -1).map_err(io("wait for the container's notification"))?;
            if fds[0].revents != 0 && self.forward(self.pid)? {
                return barrier(self.host.as_fd());
            }
            if fds[1].revents != 0 {
                // Read what it may have sent just before it ended.
                while sys::poll_one(self.sock.as_fd(), libc::POLLIN, 0).unwrap_or(0) != 0 {
                    if self.forward(self.pid)? {
                        return barrier(self.host.as_fd());
                    }
                }
                logging::debug(&format!(
                    "container process {} exited without notifying READY",
                    self.pid
                ));
                return Ok(());
            }
        }
    }

    /// Receives one datagram from the container and passes it on with `MAINPID=main_pid`
    /// when it says `READY=`; returns whether it did.
    pub fn forward(&self, main_pid: libc::pid_t) -> Result<bool, NotifyError> {
        let mut buf = [0u8; MAX_MESSAGE];
        let n = self
            .sock
            .recv(&mut buf)
            .map_err(io("receive from the container's notify socket"))?;
        let Some((msg, ready)) = rewrite(buf.get(..n).unwrap_or_default(), main_pid) else {
            return Ok(false);
        };
        self.host
            .send(&msg)
            .map_err(io("send to the caller's NOTIFY_SOCKET"))?;
        Ok(ready)
    }

    /// Foreground `run`: passes one message on, with MAINPID our own pid (we are the
    /// process the caller watches, runc's choice too). A caller gone away is no reason
    /// to stop the container: the error is a warning.
    pub fn forward_foreground(&self) {
        if let Err(e) = self.forward(sys::getpid()) {
            logging::warn(&logging::chain(&e));
        }
    }
}

/// Connects a datagram socket to the caller's: a path, or `@name` for an abstract one.
fn connect(host: &OsString) -> Result<UnixDatagram, NotifyError> {
    let err = |source| NotifyError::Connect {
        host: host.clone(),
        source,
    };
    let bytes = host.as_bytes();
    let addr = match bytes.strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name),
        None => SocketAddr::from_pathname(host),
    }
    .map_err(err)?;
    let sock = UnixDatagram::unbound().map_err(err)?;
    sock.connect_addr(&addr).map_err(err)?;
    Ok(sock)
}

/// The message to pass on, and whether it says `READY=`: the container's lines minus its
/// own MAINPID (a pid in its namespace) and BARRIER (its fds are not passed on), with
/// `MAINPID=main_pid` first when ready. None when nothing is left to send.
fn rewrite(msg: &[u8], main_pid: libc::pid_t) -> Option<(Vec<u8>, bool)> {
    let lines: Vec<&[u8]> = msg
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && !l.starts_with(b"MAINPID=") && !l.starts_with(b"BARRIER="))
        .collect();
    let ready = lines.iter().any(|l| l.starts_with(b"READY="));
    let mut out = Vec::with_capacity(msg.len() + 24);
    if ready {
        out.extend_from_slice(format!("MAINPID={main_pid}\n").as_bytes());
    }
    for l in &lines {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    (!out.is_empty()).then_some((out, ready))
}

/// sd_notify_barrier: sends `BARRIER=1` with a pipe's write end and waits until the
/// caller closes it, so that it has seen READY and MAINPID before we exit (else systemd
/// may find the sender gone and drop the message). A caller that ignores it costs at
/// most `BARRIER_TIMEOUT_MS`, then we go on, as runc does.
fn barrier(host: BorrowedFd<'_>) -> Result<(), NotifyError> {
    let (r, w) = std::io::pipe().map_err(io("create the barrier pipe"))?;
    let w = OwnedFd::from(w);
    sys::send_fd(host, b"BARRIER=1", w.as_fd()).map_err(io("send BARRIER=1"))?;
    drop(w);
    let r = OwnedFd::from(r);
    match sys::poll_one(r.as_fd(), libc::POLLIN, BARRIER_TIMEOUT_MS) {
        Ok(0) => logging::warn(&format!(
            "NOTIFY_SOCKET: no answer to BARRIER=1 after {} s, going on",
            BARRIER_TIMEOUT_MS / 1000
        )),
        Ok(_) => {}
        Err(e) => return Err(io("wait for the barrier")(e)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(msg: &[u8]) -> Option<(String, bool)> {
        rewrite(msg, 42).map(|(m, r)| (String::from_utf8(m).unwrap(), r))
    }

    #[test]
    fn ready_gets_host_mainpid() {
        assert_eq!(
            text(b"READY=1"),
            Some(("MAINPID=42\nREADY=1\n".into(), true))
        );
        assert_eq!(
            text(b"STATUS=up\nMAINPID=1\nREADY=1\n"),
            Some(("MAINPID=42\nSTATUS=up\nREADY=1\n".into(), true))
        );
    }

    #[test]
    fn other_messages_pass_without_mainpid() {
        assert_eq!(
            text(b"STATUS=starting"),
            Some(("STATUS=starting\n".into(), false))
        );
        assert_eq!(text(b"MAINPID=7\n"), None);
        assert_eq!(text(b"BARRIER=1"), None);
        assert_eq!(text(b""), None);
    }

    #[test]
    fn spec_gets_mount_and_env() {
        let mut spec = Spec {
            process: Some(crate::spec::Process {
                env: vec!["A=1".into(), "NOTIFY_SOCKET=/host/path".into()],
                ..Default::default()
            }),
            ..Default::default()
        };
        add_to_spec(Path::new("/run/hoist-runtime/x/notify"), &mut spec);
        let m = spec.mounts.last().unwrap();
        assert_eq!(m.destination, Path::new("/run/notify"));
        assert_eq!(
            m.source.as_deref(),
            Some(Path::new("/run/hoist-runtime/x/notify"))
        );
        assert!(m.options.iter().any(|o| o == "ro"));
        assert_eq!(
            spec.process.unwrap().env,
            ["A=1", "NOTIFY_SOCKET=/run/notify/notify.sock"]
        );
    }
}
