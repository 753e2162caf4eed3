//! Every raw syscall of stage0, behind safe functions that take borrowed fds and return
//! owned ones: `openat2` with resolve flags, the `*at()` creation calls, ownership,
//! modes, times, xattrs, directory listing, `renameat2`, `syncfs`, `getrandom`. Nothing
//! outside this module calls a `libc` function that touches memory or file descriptors.
//!
//! Names passed as `name` are single path components: the callers resolve directories
//! under a root first (DESIGN.md rule 1) and then act on one entry of that directory.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

pub const RESOLVE_NO_XDEV: u64 = 0x01;
pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;
pub const RESOLVE_BENEATH: u64 = 0x08;
pub const RESOLVE_IN_ROOT: u64 = 0x10;

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

fn fstatat(dir: BorrowedFd<'_>, name: &CString, flags: i32) -> io::Result<libc::stat> {
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

/// `/proc/self/fd/<dir>/<name>`: how the `l*xattr` calls reach one entry of a directory
/// fd. The magic link resolves to exactly the directory the fd holds, and the `l` calls
/// do not follow `name` itself. `name` must be one component.
fn entry_path(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<CString> {
    if name.as_bytes().contains(&b'/') || name.is_empty() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let mut p = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    p.extend_from_slice(name.as_bytes());
    cstr(OsStr::from_bytes(&p))
}

/// `fsetxattr(2)` on an fd opened for reading or writing.
pub fn fsetxattr(fd: BorrowedFd<'_>, key: &OsStr, value: &[u8]) -> io::Result<()> {
    let k = cstr(key)?;
    // SAFETY: `k` is NUL-terminated and `value` readable for its length, both alive for
    // the call; `fd` is live.
    cvt(unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            k.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
    .map(drop)
}

/// `lsetxattr(2)` on `name` in `dir` (a symlink or a device node is not followed or
/// opened).
pub fn setxattr_at(dir: BorrowedFd<'_>, name: &OsStr, key: &OsStr, value: &[u8]) -> io::Result<()> {
    let p = entry_path(dir, name)?;
    let k = cstr(key)?;
    // SAFETY: `p` and `k` are NUL-terminated and `value` readable for its length, all
    // alive for the call.
    cvt(unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            k.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
    .map(drop)
}

/// Calls a size-probing `*xattr` function twice (size, then data), growing the buffer
/// when the value grew in between.
fn xattr_buf(mut call: impl FnMut(*mut libc::c_void, usize) -> isize) -> io::Result<Vec<u8>> {
    loop {
        let need = cvt(call(std::ptr::null_mut(), 0))?;
        let need = usize::try_from(need).map_err(|_| io::Error::from_raw_os_error(libc::EIO))?;
        if need == 0 {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; need];
        match cvt(call(buf.as_mut_ptr().cast(), buf.len())) {
            Ok(n) => {
                buf.truncate(usize::try_from(n).unwrap_or(0));
                return Ok(buf);
            }
            Err(e) if e.raw_os_error() == Some(libc::ERANGE) => {}
            Err(e) => return Err(e),
        }
    }
}

fn split_names(list: &[u8]) -> Vec<OsString> {
    list.split(|b| *b == 0)
        .filter(|n| !n.is_empty())
        .map(|n| OsString::from_vec(n.to_vec()))
        .collect()
}

/// `flistxattr(2)`: the xattr names of what an fd (not O_PATH) refers to.
pub fn flistxattr(fd: BorrowedFd<'_>) -> io::Result<Vec<OsString>> {
    let list = xattr_buf(|ptr, len| {
        // SAFETY: `ptr` is NULL with `len` 0 (a size probe) or a writable buffer of
        // `len` bytes that outlives the call.
        unsafe { libc::flistxattr(fd.as_raw_fd(), ptr.cast(), len) }
    })?;
    Ok(split_names(&list))
}

/// `llistxattr(2)` of `name` in `dir`.
pub fn listxattr_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Vec<OsString>> {
    let p = entry_path(dir, name)?;
    let list = xattr_buf(|ptr, len| {
        // SAFETY: as in `flistxattr`; `p` is NUL-terminated and alive for the call.
        unsafe { libc::llistxattr(p.as_ptr(), ptr.cast(), len) }
    })?;
    Ok(split_names(&list))
}

/// `fgetxattr(2)`.
pub fn fgetxattr(fd: BorrowedFd<'_>, key: &OsStr) -> io::Result<Vec<u8>> {
    let k = cstr(key)?;
    xattr_buf(|ptr, len| {
        // SAFETY: `ptr` is NULL with `len` 0 or a writable buffer of `len` bytes; `k`
        // is NUL-terminated; all alive for the call.
        unsafe { libc::fgetxattr(fd.as_raw_fd(), k.as_ptr(), ptr, len) }
    })
}

/// `lgetxattr(2)` of `name` in `dir`.
pub fn getxattr_at(dir: BorrowedFd<'_>, name: &OsStr, key: &OsStr) -> io::Result<Vec<u8>> {
    let p = entry_path(dir, name)?;
    let k = cstr(key)?;
    xattr_buf(|ptr, len| {
        // SAFETY: as in `fgetxattr`; `p` is NUL-terminated and alive for the call.
        unsafe { libc::lgetxattr(p.as_ptr(), k.as_ptr(), ptr, len) }
    })
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

/// One entry of a directory listing.
#[derive(Debug, Clone)]
pub struct DirEntry {
    pub name: OsString,
    /// `d_type` (DT_DIR, DT_REG, …; DT_UNKNOWN when the filesystem does not say).
    pub kind: u8,
}

/// Lists a directory opened for reading (not O_PATH), without `.` and `..`, from its
/// start whatever the fd's offset.
pub fn read_dir(dir: BorrowedFd<'_>) -> io::Result<Vec<DirEntry>> {
    // fdopendir takes ownership of its fd: give it a duplicate.
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) takes an integer fd and no memory.
    let dup = cvt(unsafe { libc::fcntl(dir.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) })?;
    // SAFETY: `dup` is a new fd that only this function owns; fdopendir takes it over.
    let dirp = unsafe { libc::fdopendir(dup) };
    if dirp.is_null() {
        let e = io::Error::last_os_error();
        // SAFETY: fdopendir failed, so `dup` is still ours to close.
        unsafe { libc::close(dup) };
        return Err(e);
    }
    // The duplicate shares the offset with `dir`: start from the beginning.
    // SAFETY: `dirp` is the live DIR stream opened above.
    unsafe { libc::rewinddir(dirp) };
    let mut out = Vec::new();
    let result = loop {
        // SAFETY: errno is thread-local; clearing it tells end-of-stream from an error.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: `dirp` is live; the returned pointer is valid until the next readdir
        // or closedir on it, and is only read before either.
        let ent = unsafe { libc::readdir64(dirp) };
        if ent.is_null() {
            let e = io::Error::last_os_error();
            break if e.raw_os_error().unwrap_or(0) == 0 {
                Ok(())
            } else {
                Err(e)
            };
        }
        // SAFETY: `ent` is a valid dirent64 (see above) whose d_name is NUL-terminated.
        let (name, kind) = unsafe {
            let e = &*ent;
            (
                std::ffi::CStr::from_ptr(e.d_name.as_ptr()).to_bytes(),
                e.d_type,
            )
        };
        if name != b"." && name != b".." {
            out.push(DirEntry {
                name: OsString::from_vec(name.to_vec()),
                kind,
            });
        }
    };
    // SAFETY: `dirp` is live and not used after this; closedir closes `dup`.
    unsafe { libc::closedir(dirp) };
    result.map(|()| out)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn read_dir_lists_from_the_start_each_time() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("a"), b"").unwrap();
        std::fs::create_dir(t.path().join("b")).unwrap();
        let fd = openat(None, t.path(), libc::O_RDONLY | libc::O_DIRECTORY, 0).unwrap();
        for _ in 0..2 {
            let mut names: Vec<_> = read_dir(fd.as_fd())
                .unwrap()
                .into_iter()
                .map(|e| e.name)
                .collect();
            names.sort();
            assert_eq!(names, ["a", "b"]);
        }
    }

    #[test]
    fn entry_path_refuses_more_than_one_component() {
        let t = tempfile::tempdir().unwrap();
        let fd = openat(None, t.path(), libc::O_PATH | libc::O_DIRECTORY, 0).unwrap();
        assert!(entry_path(fd.as_fd(), OsStr::new("a/b")).is_err());
        assert!(entry_path(fd.as_fd(), OsStr::new("")).is_err());
        assert!(entry_path(fd.as_fd(), OsStr::new("a")).is_ok());
    }
}
