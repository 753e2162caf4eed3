//! `terminal: true`: a pty from the container's own devpts, its master sent to the
//! caller's `--console-socket` with SCM_RIGHTS exactly as runc sends it, its peer made
//! the process's stdio and controlling terminal.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use crate::spec::ConsoleSize;
use crate::sys;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("process.terminal needs --console-socket")]
    NoSocket,
    #[error("connect to console socket `{}`", path.display())]
    Connect {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{step} for the console")]
    Io {
        step: &'static str,
        #[source]
        source: std::io::Error,
    },
}

fn io(step: &'static str) -> impl FnOnce(std::io::Error) -> ConsoleError {
    move |source| ConsoleError::Io { step, source }
}

/// The caller's end of the console socket for a process: an fd already connected
/// (foreground `run` proxying the pty itself), else a connection to `--console-socket`.
/// None when the process has no terminal.
pub fn connect(
    terminal: bool,
    fd: Option<BorrowedFd<'_>>,
    path: Option<&Path>,
) -> Result<Option<std::os::fd::OwnedFd>, ConsoleError> {
    if !terminal {
        return Ok(None);
    }
    if let Some(f) = fd {
        return f
            .try_clone_to_owned()
            .map(Some)
            .map_err(io("duplicate the console socket"));
    }
    let Some(p) = path else {
        return Err(ConsoleError::NoSocket);
    };
    let s = std::os::unix::net::UnixStream::connect(p).map_err(|source| ConsoleError::Connect {
        path: p.to_path_buf(),
        source,
    })?;
    Ok(Some(s.into()))
}

/// Runs inside the container after pivot_root, after setsid.
pub fn setup(socket: BorrowedFd<'_>, size: Option<ConsoleSize>) -> Result<(), ConsoleError> {
    let master = sys::openat(
        None,
        Path::new("/dev/ptmx"),
        libc::O_RDWR | libc::O_NOCTTY,
        0,
    )
    .map_err(io("open /dev/ptmx"))?;
    let peer = sys::open_pty_peer(master.as_fd()).map_err(io("open pty peer"))?;
    if let Some(s) = size {
        sys::set_winsize(master.as_fd(), s.height, s.width).map_err(io("set window size"))?;
    }
    sys::send_fd(socket, b"/dev/ptmx", master.as_fd())
        .map_err(io("send pty master to the console socket"))?;
    for n in 0..3 {
        sys::dup2(peer.as_fd(), n).map_err(io("dup pty to stdio"))?;
    }
    sys::set_controlling_tty(peer.as_fd()).map_err(io("make the pty the controlling terminal"))
}
