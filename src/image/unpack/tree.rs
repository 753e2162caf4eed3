//! Removing directory trees through fds, never following a symlink, with a constant
//! number of open fds however deep the tree: the walk goes down with `openat(O_NOFOLLOW)`
//! and back up with `openat("..")`, checking that `..` is the directory it came from.
//! Used to replace an entry a later one overrides, to clean up a failed unpack, and by
//! `render`.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use crate::sys::{self, DirEntry};

/// `(st_dev, st_ino)`: what a directory is, whatever its name.
pub type Id = (u64, u64);

pub fn id(fd: BorrowedFd<'_>) -> io::Result<Id> {
    let st = sys::fstat(fd)?;
    Ok((st.st_dev, st.st_ino))
}

pub fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// Whether `st` is an overlay whiteout (a character device 0:0).
pub fn is_whiteout(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == 0
}

const DIR_FLAGS: i32 = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;

/// Opens the directory `name` in `dir` for reading, refusing a symlink.
pub fn open_child_dir(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    sys::openat(Some(dir), Path::new(name), DIR_FLAGS, 0)
}

/// Opens `..` of `dir` and checks that it is the directory `expect`.
pub fn open_parent_checked(dir: BorrowedFd<'_>, expect: Id) -> io::Result<OwnedFd> {
    let up = sys::openat(Some(dir), Path::new(".."), DIR_FLAGS, 0)?;
    if id(up.as_fd())? != expect {
        return Err(io::Error::other(
            "a directory moved while its tree was walked",
        ));
    }
    Ok(up)
}

/// Removes `name` in `dir`, and everything under it if it is a directory. A missing
/// `name` is not an error.
pub fn remove_all(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    let st = match sys::stat_at(dir, name) {
        Ok(st) => st,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    if !is_dir(&st) {
        return sys::unlinkat(dir, name, false);
    }
    match sys::unlinkat(dir, name, true) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST)) => {}
        other => return other,
    }
    clear_dir(open_child_dir(dir, name)?)?;
    sys::unlinkat(dir, name, true)
}

struct Frame {
    name: OsString,
    rest: Vec<DirEntry>,
    parent: Id,
}

/// Removes everything inside the directory `top` (opened for reading), leaving `top`.
pub fn clear_dir(top: OwnedFd) -> io::Result<()> {
    let mut cur = top;
    let mut entries = sys::read_dir(cur.as_fd())?;
    let mut stack: Vec<Frame> = Vec::new();
    loop {
        if let Some(e) = entries.pop() {
            let dir = match e.kind {
                libc::DT_DIR => true,
                libc::DT_UNKNOWN => match sys::stat_at(cur.as_fd(), &e.name) {
                    Ok(st) => is_dir(&st),
                    Err(err) if err.raw_os_error() == Some(libc::ENOENT) => continue,
                    Err(err) => return Err(err),
                },
                _ => false,
            };
            let r = sys::unlinkat(cur.as_fd(), &e.name, dir);
            match r {
                Ok(()) => {}
                Err(err) if err.raw_os_error() == Some(libc::ENOENT) => {}
                Err(err)
                    if dir
                        && matches!(err.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST)) =>
                {
                    let child = open_child_dir(cur.as_fd(), &e.name)?;
                    let parent = id(cur.as_fd())?;
                    let rest = std::mem::replace(&mut entries, sys::read_dir(child.as_fd())?);
                    stack.push(Frame {
                        name: e.name,
                        rest,
                        parent,
                    });
                    cur = child;
                }
                Err(err) => return Err(err),
            }
            continue;
        }
        // `cur` is empty now.
        let Some(f) = stack.pop() else {
            return Ok(());
        };
        let up = open_parent_checked(cur.as_fd(), f.parent)?;
        sys::unlinkat(up.as_fd(), &f.name, true)?;
        cur = up;
        entries = f.rest;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn open(p: &Path) -> OwnedFd {
        sys::openat(None, p, libc::O_RDONLY | libc::O_DIRECTORY, 0).unwrap()
    }

    #[test]
    fn removes_a_deep_tree_without_following_symlinks() {
        let t = tempfile::tempdir().unwrap();
        let outside = t.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep"), b"x").unwrap();
        let victim = t.path().join("victim");
        let mut p = victim.clone();
        for i in 0..300 {
            p.push(format!("d{i}"));
        }
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("f"), b"x").unwrap();
        symlink(&outside, victim.join("d0/link")).unwrap();
        symlink(&outside, p.join("link")).unwrap();
        let top = open(t.path());
        remove_all(top.as_fd(), OsStr::new("victim")).unwrap();
        assert!(!victim.exists());
        assert!(outside.join("keep").exists());
        // Missing is fine.
        remove_all(top.as_fd(), OsStr::new("victim")).unwrap();
    }

    #[test]
    fn clear_keeps_the_top() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("a/b")).unwrap();
        std::fs::write(t.path().join("a/b/f"), b"x").unwrap();
        std::fs::write(t.path().join("g"), b"x").unwrap();
        clear_dir(open(t.path())).unwrap();
        assert!(t.path().is_dir());
        assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 0);
    }
}
