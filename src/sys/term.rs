//! Terminal modes: turning echo off while a password is typed (`hoist login`).

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::cvt;

/// Echo switched off on a terminal until this is dropped, which puts the saved mode
/// back.
pub struct NoEcho<'fd> {
    fd: BorrowedFd<'fd>,
    saved: libc::termios,
}

/// Switches echo off on terminal `fd` (newlines still echo, so the prompt's line ends).
pub fn no_echo(fd: BorrowedFd<'_>) -> io::Result<NoEcho<'_>> {
    let mut t = MaybeUninit::<libc::termios>::uninit();
    // SAFETY: `t` is valid for writes of a termios; tcgetattr fills it on success and
    // the value is read only then.
    cvt(unsafe { libc::tcgetattr(fd.as_raw_fd(), t.as_mut_ptr()) })?;
    // SAFETY: tcgetattr succeeded, so `t` is initialised.
    let saved = unsafe { t.assume_init() };
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    // SAFETY: `quiet` is a valid termios read by the call; `fd` is a borrowed open fd.
    cvt(unsafe { libc::tcsetattr(fd.as_raw_fd(), libc::TCSANOW, &quiet) })?;
    Ok(NoEcho { fd, saved })
}

impl Drop for NoEcho<'_> {
    fn drop(&mut self) {
        // SAFETY: `saved` is the termios tcgetattr gave for this fd, still open (borrowed
        // for the guard's lifetime).
        let _ = unsafe { libc::tcsetattr(self.fd.as_raw_fd(), libc::TCSANOW, &self.saved) };
    }
}
