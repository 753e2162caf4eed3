//! `terminal: true`: a pty from the container's own devpts, its master sent to the
//! caller's `--console-socket` with SCM_RIGHTS exactly as runc sends it, its peer made
//! the process's stdio and controlling terminal.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use crate::spec::ConsoleSize;
use crate::{rootfs, sys};

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

/// Binds the pty over /dev/console, made under the root if missing. A /dev/console that
/// is a symlink is refused: it could point the bind anywhere (the /dev-symlink CVEs).
fn bind_dev_console(peer: BorrowedFd<'_>) -> Result<(), ConsoleError> {
    let root = sys::openat(None, Path::new("/"), libc::O_PATH | libc::O_DIRECTORY, 0)
        .map_err(io("open /"))?;
    let console = Path::new("/dev/console");
    let target = rootfs::path::open_or_make(root.as_fd(), console, rootfs::path::Make::File)
        .map_err(io("make /dev/console"))?;
    sys::openat2(
        root.as_fd(),
        Path::new("dev/console"),
        libc::O_PATH,
        0,
        sys::RESOLVE_IN_ROOT | sys::RESOLVE_NO_SYMLINKS,
    )
    .map_err(io("open /dev/console without following symlinks"))?;
    sys::mount(
        Some(&sys::fd_path(peer)),
        &sys::fd_path(target.as_fd()),
        None,
        libc::MS_BIND,
        None,
    )
    .map_err(io("bind the pty over /dev/console"))
}

/// Runs inside the container after pivot_root, after setsid.
/// With `bind_console` (the container's init, not exec'd processes), the pty is also
/// bound over /dev/console, as runc does.
pub fn setup(
    socket: BorrowedFd<'_>,
    size: Option<ConsoleSize>,
    bind_console: bool,
) -> Result<(), ConsoleError> {
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
    if bind_console {
        bind_dev_console(peer.as_fd())?;
    }
    sys::send_fd(socket, b"/dev/ptmx", master.as_fd())
        .map_err(io("send pty master to the console socket"))?;
    for n in 0..3 {
        sys::dup2(peer.as_fd(), n).map_err(io("dup pty to stdio"))?;
    }
    sys::set_controlling_tty(peer.as_fd()).map_err(io("make the pty the controlling terminal"))
}
