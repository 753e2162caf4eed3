//! Extended attributes: on fds opened for reading or writing (`f*xattr`), and on one
//! entry of a directory fd, not followed (`l*xattr` through `/proc/self/fd`).

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use super::{cstr, cvt};

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn entry_path_refuses_more_than_one_component() {
        let t = tempfile::tempdir().unwrap();
        let fd = super::super::openat(None, t.path(), libc::O_PATH | libc::O_DIRECTORY, 0).unwrap();
        assert!(entry_path(fd.as_fd(), OsStr::new("a/b")).is_err());
        assert!(entry_path(fd.as_fd(), OsStr::new("")).is_err());
        assert!(entry_path(fd.as_fd(), OsStr::new("a")).is_ok());
    }
}
