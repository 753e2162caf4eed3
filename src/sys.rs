//! Every raw syscall of stage0, behind safe functions that take borrowed fds and return
//! owned ones: `openat2` with resolve flags and the `*at()` calls (`fs`), owners, modes
//! and times (`attr`), xattrs (`xattr`), directory listing (`dir`), processes, mounts and
//! namespaces for pods (`proc`), terminal echo (`term`), and here `syncfs`,
//! `fsync`, `getrandom`. Nothing outside this module calls a `libc` function that
//! touches memory or file descriptors.
//!
//! Names passed as `name` are single path components: the callers resolve directories
//! under a root first (DESIGN.md rule 1) and then act on one entry of that directory.

mod attr;
mod dir;
mod fs;
mod proc;
mod term;
mod xattr;

pub use attr::*;
pub use dir::*;
pub use fs::*;
pub use proc::*;
pub use term::*;
pub use xattr::*;

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

/// Turns a `-1`-on-error return into an `io::Error` from errno.
pub fn cvt<T: IsMinusOne>(ret: T) -> io::Result<T> {
    if ret.is_minus_one() {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Retries `f` while it fails with EINTR.
pub fn retry<T: IsMinusOne>(mut f: impl FnMut() -> T) -> io::Result<T> {
    loop {
        match cvt(f()) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

pub trait IsMinusOne {
    fn is_minus_one(&self) -> bool;
}

macro_rules! impl_is_minus_one {
    ($($t:ty)*) => ($(impl IsMinusOne for $t {
        fn is_minus_one(&self) -> bool { *self == -1 }
    })*)
}
impl_is_minus_one! { i32 i64 isize }

/// A path or name as a C string; an interior NUL is an `InvalidInput` error.
pub fn cstr(s: impl AsRef<OsStr>) -> io::Result<CString> {
    CString::new(s.as_ref().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name contains a NUL byte"))
}

/// Takes ownership of an fd number the kernel just returned.
fn owned(fd: i64) -> io::Result<OwnedFd> {
    let fd = RawFd::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel returned a new fd that nothing else in this process owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `syncfs(2)`: writes out the filesystem holding `fd`.
pub fn syncfs(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: syncfs takes an integer fd and no memory.
    cvt(unsafe { libc::syncfs(fd.as_raw_fd()) }).map(drop)
}

/// `fsync(2)`.
pub fn fsync(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: fsync takes an integer fd and no memory.
    retry(|| unsafe { libc::fsync(fd.as_raw_fd()) }).map(drop)
}

/// `getrandom(2)`: fills `buf` from the kernel's generator.
pub fn getrandom(buf: &mut [u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // SAFETY: `rest` is writable for its length and alive for the call.
        let n = retry(|| unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) })?;
        done += usize::try_from(n).map_err(|_| io::Error::from_raw_os_error(libc::EIO))?;
    }
    Ok(())
}

/// `geteuid(2)`.
pub fn geteuid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}
