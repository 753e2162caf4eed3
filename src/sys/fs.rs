//! Opening and making: `openat2` with resolve flags, `openat`, the `*at()` creation
//! and removal calls, `renameat2`, `fstatat`, `readlinkat`, `lseek` for data and holes.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

use super::{cstr, cvt, owned, retry};

pub const RESOLVE_NO_XDEV: u64 = 0x01;
pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;
pub const RESOLVE_BENEATH: u64 = 0x08;
pub const RESOLVE_IN_ROOT: u64 = 0x10;

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `openat2(2)`: opens `path` relative to `dir` with `resolve` restrictions, always
/// with O_CLOEXEC.
pub fn openat2(
    dir: BorrowedFd<'_>,
    path: &Path,
    flags: i32,
    mode: u32,
    resolve: u64,
) -> io::Result<OwnedFd> {
    let c = cstr(path)?;
    let how = OpenHow {
        flags: u64::from((flags | libc::O_CLOEXEC).cast_unsigned()),
        mode: u64::from(mode),
        resolve,
    };
    let fd = retry(|| {
        // SAFETY: `c` is a NUL-terminated string and `how` an open_how, both alive for
        // the whole call; the size passed is that of the struct passed.
        unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                c.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        }
    })?;
    owned(fd)
}

/// `openat(2)` of `name` in `dir` (or a host path when `dir` is `None`), always with
/// O_CLOEXEC. Callers that must not follow a final symlink pass O_NOFOLLOW.
pub fn openat(
    dir: Option<BorrowedFd<'_>>,
    name: &Path,
    flags: i32,
    mode: u32,
) -> io::Result<OwnedFd> {
    let c = cstr(name)?;
    let dirfd = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    let fd = retry(|| {
        // SAFETY: `c` is a NUL-terminated string alive for the call; openat only reads it.
        unsafe { libc::openat(dirfd, c.as_ptr(), flags | libc::O_CLOEXEC, mode) }
    })?;
    owned(i64::from(fd))
}

/// `mkdirat(2)`.
pub fn mkdirat(dir: BorrowedFd<'_>, name: &OsStr, mode: u32) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: `c` is a NUL-terminated string alive for the call; `dir` is a live fd.
    cvt(unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), mode) }).map(drop)
}

/// `mknodat(2)`: `mode` carries the file type (S_IFCHR, S_IFBLK, S_IFIFO).
pub fn mknodat(dir: BorrowedFd<'_>, name: &OsStr, mode: u32, dev: u64) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: `c` is a NUL-terminated string alive for the call; `dir` is a live fd.
    cvt(unsafe { libc::mknodat(dir.as_raw_fd(), c.as_ptr(), mode, dev) }).map(drop)
}

/// `symlinkat(2)`: creates `name` in `dir` holding `target` (which is only data).
pub fn symlinkat(target: &OsStr, dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    let t = cstr(target)?;
    let n = cstr(name)?;
    // SAFETY: both strings are NUL-terminated and alive for the call; `dir` is live.
    cvt(unsafe { libc::symlinkat(t.as_ptr(), dir.as_raw_fd(), n.as_ptr()) }).map(drop)
}

/// `linkat(2)` without AT_SYMLINK_FOLLOW: a final symlink at `old` is linked itself,
/// never followed.
pub fn linkat(
    old_dir: BorrowedFd<'_>,
    old: &OsStr,
    new_dir: BorrowedFd<'_>,
    new: &OsStr,
) -> io::Result<()> {
    let o = cstr(old)?;
    let n = cstr(new)?;
    // SAFETY: both strings are NUL-terminated and alive for the call; the fds are live.
    cvt(unsafe {
        libc::linkat(
            old_dir.as_raw_fd(),
            o.as_ptr(),
            new_dir.as_raw_fd(),
            n.as_ptr(),
            0,
        )
    })
    .map(drop)
}

/// `unlinkat(2)`; `dir_entry` removes an (empty) directory.
pub fn unlinkat(dir: BorrowedFd<'_>, name: &OsStr, dir_entry: bool) -> io::Result<()> {
    let c = cstr(name)?;
    let flags = if dir_entry { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: `c` is a NUL-terminated string alive for the call; `dir` is a live fd.
    cvt(unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), flags) }).map(drop)
}

/// `renameat2(2)` with RENAME_NOREPLACE: fails with EEXIST when `new` exists.
pub fn rename_noreplace(
    old_dir: BorrowedFd<'_>,
    old: &OsStr,
    new_dir: BorrowedFd<'_>,
    new: &OsStr,
) -> io::Result<()> {
    let o = cstr(old)?;
    let n = cstr(new)?;
    // SAFETY: both strings are NUL-terminated and alive for the call; the fds are live.
    cvt(unsafe {
        libc::renameat2(
            old_dir.as_raw_fd(),
            o.as_ptr(),
            new_dir.as_raw_fd(),
            n.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    })
    .map(drop)
}

pub(super) fn fstatat(dir: BorrowedFd<'_>, name: &CString, flags: i32) -> io::Result<libc::stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is writable memory of the size of a stat; `name` is NUL-terminated
    // and alive for the call; `dir` is a live fd.
    cvt(unsafe { libc::fstatat(dir.as_raw_fd(), name.as_ptr(), st.as_mut_ptr(), flags) })?;
    // SAFETY: fstatat succeeded, so it filled the whole struct.
    Ok(unsafe { st.assume_init() })
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`: a symlink is described, not followed.
pub fn stat_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<libc::stat> {
    fstatat(dir, &cstr(name)?, libc::AT_SYMLINK_NOFOLLOW)
}

/// `fstat` of what an fd refers to (O_PATH fds included, through AT_EMPTY_PATH).
pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    fstatat(fd, &CString::default(), libc::AT_EMPTY_PATH)
}

/// `fstatfs(2)`'s `f_type`: the magic number of the file system `fd` is on.
pub fn fs_type(fd: BorrowedFd<'_>) -> io::Result<i64> {
    // SAFETY: a zeroed statfs is a valid buffer of the size fstatfs writes.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a live fd and a buffer of the right size.
    cvt(unsafe { libc::fstatfs(fd.as_raw_fd(), &mut st) })?;
    Ok(st.f_type)
}

/// `FS_IOC_GETFLAGS`/`FS_IOC_SETFLAGS` (chattr(1)'s flags), as the ioctls take them:
/// an int, whatever their names say.
const FS_IOC_GETFLAGS: libc::c_ulong = 0x8008_6601;
const FS_IOC_SETFLAGS: libc::c_ulong = 0x4008_6602;
/// `chattr +T`: the top of a directory hierarchy.
const FS_TOPDIR_FL: libc::c_int = 0x0002_0000;

/// Marks the directory `dir` as the top of a hierarchy (`chattr +T`), unless it is
/// already: ext2/3/4 then spread the directories made in it over the block groups
/// (as they do at the root) instead of keeping them near it. `Ok(false)` where the
/// file system has no such flag.
pub fn set_topdir(dir: BorrowedFd<'_>) -> io::Result<bool> {
    let mut flags: libc::c_int = 0;
    // SAFETY: FS_IOC_GETFLAGS writes one int through a valid pointer to ours.
    match cvt(unsafe { libc::ioctl(dir.as_raw_fd(), FS_IOC_GETFLAGS, &mut flags) }) {
        Ok(_) => {}
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTTY | libc::EOPNOTSUPP)) => {
            return Ok(false)
        }
        Err(e) => return Err(e),
    }
    if flags & FS_TOPDIR_FL != 0 {
        return Ok(true);
    }
    flags |= FS_TOPDIR_FL;
    // SAFETY: FS_IOC_SETFLAGS reads one int through a valid pointer to ours.
    match cvt(unsafe { libc::ioctl(dir.as_raw_fd(), FS_IOC_SETFLAGS, &flags) }) {
        Ok(_) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTTY | libc::EOPNOTSUPP)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `readlinkat(2)` of `name` in `dir`.
pub fn readlinkat(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OsString> {
    let c = cstr(name)?;
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: `buf` is writable for its length; `c` is NUL-terminated; both alive
        // for the call; `dir` is live.
        let n = cvt(unsafe {
            libc::readlinkat(
                dir.as_raw_fd(),
                c.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        })?;
        let n = usize::try_from(n).map_err(|_| io::Error::from_raw_os_error(libc::EIO))?;
        if n < buf.len() {
            buf.truncate(n);
            return Ok(OsString::from_vec(buf));
        }
        buf.resize(buf.len() * 2, 0);
    }
}

/// `lseek(fd, from, SEEK_DATA)`: the next offset holding data, `None` past the last.
pub fn seek_data(fd: BorrowedFd<'_>, from: u64) -> io::Result<Option<u64>> {
    seek(fd, from, libc::SEEK_DATA)
}

/// `lseek(fd, from, SEEK_HOLE)`: the next hole (the end of the file counts as one).
pub fn seek_hole(fd: BorrowedFd<'_>, from: u64) -> io::Result<Option<u64>> {
    seek(fd, from, libc::SEEK_HOLE)
}

fn seek(fd: BorrowedFd<'_>, from: u64, whence: i32) -> io::Result<Option<u64>> {
    let off = i64::try_from(from).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: lseek takes an integer fd and no memory.
    match cvt(unsafe { libc::lseek64(fd.as_raw_fd(), off, whence) }) {
        Ok(n) => Ok(u64::try_from(n).ok()),
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    /// The flag as chattr(1) sets it, where the file system has one (ext4 here; a
    /// tmpfs says it has none).
    #[test]
    fn topdir_flag() {
        let d = tempfile::tempdir().unwrap();
        let dir = std::fs::File::open(d.path()).unwrap();
        let set = set_topdir(dir.as_fd()).unwrap();
        let lsattr = std::process::Command::new("lsattr")
            .arg("-d")
            .arg(d.path())
            .output()
            .unwrap();
        let flags = String::from_utf8_lossy(&lsattr.stdout);
        let flags = flags.split_whitespace().next().unwrap_or_default();
        if set {
            assert!(flags.contains('T'), "{flags}");
            assert!(set_topdir(dir.as_fd()).unwrap(), "already set");
        } else {
            assert!(!lsattr.status.success() || !flags.contains('T'), "{flags}");
        }
        let shm = std::fs::File::open("/dev/shm").unwrap();
        assert!(!set_topdir(shm.as_fd()).unwrap(), "tmpfs has no such flag");
    }
}
