//! `run` in the foreground with `terminal: true` and no --console-socket: like runc,
//! receive the pty master ourselves and copy between it and our own stdio, with the
//! caller's terminal in raw mode and window size changes passed on.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use crate::notify::Listener;
use crate::sys;

/// Copies until the process exits; returns its exit status.
pub fn proxy(
    master: &OwnedFd,
    pid: libc::pid_t,
    sigfd: &OwnedFd,
    notify: Option<&Listener>,
) -> std::io::Result<i32> {
    // SAFETY: fds 0 and 1 are open for the whole life of the process.
    let (stdin, stdout) = unsafe { (BorrowedFd::borrow_raw(0), BorrowedFd::borrow_raw(1)) };
    let saved = if sys::isatty(stdin) {
        sys::tty_make_raw(stdin).ok()
    } else {
        None
    };
    if let Ok((rows, cols)) = sys::get_winsize(stdin) {
        let _ = sys::set_winsize(master.as_fd(), rows, cols);
    }
    let r = copy_loop(master, pid, sigfd, notify, stdin, stdout);
    if let Some(t) = saved {
        sys::tty_restore(stdin, &t);
    }
    r
}

fn copy_loop(
    master: &OwnedFd,
    pid: libc::pid_t,
    sigfd: &OwnedFd,
    notify: Option<&Listener>,
    stdin: BorrowedFd<'_>,
    stdout: BorrowedFd<'_>,
) -> std::io::Result<i32> {
    let pidfd = sys::pidfd_open(pid)?;
    let mut buf = vec![0u8; 16 * 1024];
    let mut stdin_open = true;
    loop {
        let mut fds = [
            libc::pollfd {
                fd: master.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if stdin_open { stdin.as_raw_fd() } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: sigfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: pidfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: notify.map_or(-1, |n| n.as_fd().as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        sys::poll(&mut fds, -1)?;
        if let (Some(n), true) = (notify, fds[4].revents != 0) {
            n.forward_foreground();
        }
        if fds[0].revents != 0 {
            match sys::read(master.as_fd(), &mut buf) {
                Ok(n) if n > 0 => sys::write_all(stdout, &buf[..n])?,
                // EIO: every copy of the pty's other side is closed.
                _ => fds[0].fd = -1,
            }
        }
        if fds[1].revents != 0 {
            match sys::read(stdin, &mut buf) {
                Ok(n) if n > 0 => sys::write_all(master.as_fd(), &buf[..n])?,
                _ => stdin_open = false,
            }
        }
        if fds[2].revents != 0 {
            let sig = sys::read_signal(sigfd.as_fd())?;
            if sig == libc::SIGWINCH {
                if let Ok((rows, cols)) = sys::get_winsize(stdin) {
                    let _ = sys::set_winsize(master.as_fd(), rows, cols);
                }
            } else {
                let _ = sys::pidfd_send_signal(pidfd.as_fd(), sig);
            }
        }
        if fds[3].revents != 0 {
            // Drain what the process wrote last, then reap it.
            while let Ok(n) = sys::read_nonblocking(master.as_fd(), &mut buf) {
                if n == 0 {
                    break;
                }
                sys::write_all(stdout, &buf[..n])?;
            }
            if let Some((_, exit)) = sys::waitpid(pid, false)? {
                return Ok(exit.status());
            }
        }
    }
}
