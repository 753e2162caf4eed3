//! Directory listing through an fd.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStringExt;

use super::cvt;

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn read_dir_lists_from_the_start_each_time() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("a"), b"").unwrap();
        std::fs::create_dir(t.path().join("b")).unwrap();
        let fd =
            super::super::openat(None, t.path(), libc::O_RDONLY | libc::O_DIRECTORY, 0).unwrap();
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
}
