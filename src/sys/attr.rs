//! Owners, modes and times of what an fd refers to, or of one entry of a directory fd
//! without following it.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::fs::fstatat;
use super::{cstr, cvt};

/// `fchownat(fd, "", AT_EMPTY_PATH)`: changes the owner of what the fd refers to, an
/// O_PATH fd of a symlink included (the symlink itself).
pub fn fchown(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: an empty NUL-terminated literal and a live fd.
    cvt(unsafe { libc::fchownat(fd.as_raw_fd(), c"".as_ptr(), uid, gid, libc::AT_EMPTY_PATH) })
        .map(drop)
}

/// `fchownat(dir, name, AT_SYMLINK_NOFOLLOW)`.
pub fn chown_at(dir: BorrowedFd<'_>, name: &OsStr, uid: u32, gid: u32) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: `c` is NUL-terminated and alive for the call; `dir` is a live fd.
    cvt(unsafe {
        libc::fchownat(
            dir.as_raw_fd(),
            c.as_ptr(),
            uid,
            gid,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(drop)
}

/// `fchmod(2)` of an fd opened for reading or writing (not O_PATH).
pub fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    // SAFETY: fchmod takes an integer fd and no memory.
    cvt(unsafe { libc::fchmod(fd.as_raw_fd(), mode) }).map(drop)
}

/// Sets the mode of `name` in `dir` without following a final symlink: `fchmodat2`
/// with AT_SYMLINK_NOFOLLOW (Linux 6.6). Kernels without it get `fchmodat`, after an
/// `lstat` saw that `name` is not a symlink (the callers made `name` themselves, in a
/// directory that only they write to).
pub fn chmod_at(dir: BorrowedFd<'_>, name: &OsStr, mode: u32) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: `c` is NUL-terminated and alive for the call; `dir` is a live fd.
    let r = cvt(unsafe {
        libc::syscall(
            libc::SYS_fchmodat2,
            dir.as_raw_fd(),
            c.as_ptr(),
            mode,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    });
    match r {
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
            let st = fstatat(dir, &c, libc::AT_SYMLINK_NOFOLLOW)?;
            if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
                return Err(io::Error::from_raw_os_error(libc::ELOOP));
            }
            // SAFETY: as above; the final component is not a symlink.
            cvt(unsafe { libc::fchmodat(dir.as_raw_fd(), c.as_ptr(), mode, 0) }).map(drop)
        }
        other => other.map(drop),
    }
}

/// A `timespec` pair for `utimensat`: access time, modification time.
pub type Times = [libc::timespec; 2];

/// `futimens(3)`: sets the times of what an fd (not O_PATH) refers to.
pub fn futimens(fd: BorrowedFd<'_>, times: &Times) -> io::Result<()> {
    // SAFETY: `times` points at two timespecs alive for the call; `fd` is live.
    cvt(unsafe { libc::futimens(fd.as_raw_fd(), times.as_ptr()) }).map(drop)
}

/// `utimensat(dir, name, AT_SYMLINK_NOFOLLOW)`.
pub fn utimens_at(dir: BorrowedFd<'_>, name: &OsStr, times: &Times) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: `c` is NUL-terminated and `times` two timespecs, both alive for the call.
    cvt(unsafe {
        libc::utimensat(
            dir.as_raw_fd(),
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(drop)
}
