//! Directories of the layer being unpacked, resolved under its root through fds
//! (DESIGN.md rule 1): `openat2(root, dir, RESOLVE_IN_ROOT)`, so `..` and symlinks,
//! absolute or relative, resolve as they would inside the container and can never leave
//! the root. A missing directory is made one component at a time with `mkdirat` in the
//! fd of its resolved parent; a name that exists but does not resolve (a symlink to
//! nothing inside the root) is refused rather than guessed at. The last component of an
//! entry is never resolved: it is created, replaced or inspected in its parent's fd
//! with the `*at()` calls and O_NOFOLLOW.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::tree;
use crate::sys::{self, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_XDEV};

const IN_ROOT: u64 = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
const DIR: i32 = libc::O_RDONLY | libc::O_DIRECTORY;

/// Opens the directory `rel` (empty: the root) under `root` for reading.
pub fn open_dir(root: BorrowedFd<'_>, rel: &Path) -> io::Result<OwnedFd> {
    let p = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    sys::openat2(root, p, DIR, 0, IN_ROOT)
}

/// A directory that could not be opened or made, and the prefix of the path at fault.
#[derive(Debug)]
pub struct DirError {
    pub at: PathBuf,
    pub source: io::Error,
}

/// Opens the directory `rel` under `root`, making the missing components (0755, owned
/// by the unpacking user) on the way.
pub fn make_dir(root: BorrowedFd<'_>, rel: &Path) -> Result<OwnedFd, DirError> {
    let fail = |at: &Path, source| DirError {
        at: at.to_path_buf(),
        source,
    };
    match open_dir(root, rel) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        other => return other.map_err(|e| fail(rel, e)),
    }
    let mut cur = open_dir(root, Path::new("")).map_err(|e| fail(Path::new(""), e))?;
    let mut prefix = PathBuf::new();
    for c in rel.iter() {
        prefix.push(c);
        match open_dir(root, &prefix) {
            Ok(fd) => {
                cur = fd;
                continue;
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(fail(&prefix, e)),
        }
        match sys::mkdirat(cur.as_fd(), c, 0o755) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                return Err(fail(
                    &prefix,
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        "a symlink to nothing inside the layer",
                    ),
                ))
            }
            Err(e) => return Err(fail(&prefix, e)),
        }
        let made = tree::open_child_dir(cur.as_fd(), c).map_err(|e| fail(&prefix, e))?;
        // mkdirat's mode went through the umask.
        sys::fchmod(made.as_fd(), 0o755).map_err(|e| fail(&prefix, e))?;
        cur = made;
    }
    Ok(cur)
}

/// What is at a name already (a later entry replaces an earlier one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    Nothing,
    Dir,
    /// An overlay whiteout (character device 0:0).
    Whiteout,
    Other,
}

pub fn existing(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Existing> {
    match sys::stat_at(dir, name) {
        Ok(st) => Ok(kind(&st)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(Existing::Nothing),
        Err(e) => Err(e),
    }
}

fn kind(st: &libc::stat) -> Existing {
    match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => Existing::Dir,
        libc::S_IFCHR if st.st_rdev == 0 => Existing::Whiteout,
        _ => Existing::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn root() -> (tempfile::TempDir, OwnedFd) {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("root")).unwrap();
        let fd = sys::openat(None, &t.path().join("root"), DIR, 0).unwrap();
        (t, fd)
    }

    fn real(fd: &OwnedFd) -> PathBuf {
        std::fs::read_link(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(fd)
        ))
        .unwrap()
    }

    #[test]
    fn makes_missing_dirs() {
        let (t, r) = root();
        let fd = make_dir(r.as_fd(), Path::new("a/b/c")).unwrap();
        assert_eq!(real(&fd), t.path().join("root/a/b/c"));
        let fd = make_dir(r.as_fd(), Path::new("")).unwrap();
        assert_eq!(real(&fd), t.path().join("root"));
    }

    #[test]
    fn absolute_symlinks_resolve_inside() {
        let (t, r) = root();
        std::fs::create_dir(t.path().join("root/etc")).unwrap();
        symlink("/etc", t.path().join("root/link")).unwrap();
        let fd = make_dir(r.as_fd(), Path::new("link")).unwrap();
        assert_eq!(real(&fd), t.path().join("root/etc"));
        symlink("../../../..", t.path().join("root/up")).unwrap();
        let fd = make_dir(r.as_fd(), Path::new("up/x")).unwrap();
        assert_eq!(real(&fd), t.path().join("root/x"));
    }

    #[test]
    fn dangling_symlink_parent_is_refused() {
        let (t, r) = root();
        symlink("/tmp/outside-hoist-test", t.path().join("root/evil")).unwrap();
        let e = make_dir(r.as_fd(), Path::new("evil/sub")).unwrap_err();
        assert_eq!(e.at, PathBuf::from("evil"));
        assert!(!Path::new("/tmp/outside-hoist-test").exists());
        assert!(!t.path().join("root/tmp").exists());
    }

    #[test]
    fn file_as_parent_is_refused() {
        let (t, r) = root();
        std::fs::write(t.path().join("root/f"), b"").unwrap();
        let e = make_dir(r.as_fd(), Path::new("f/x")).unwrap_err();
        assert_eq!(e.source.raw_os_error(), Some(libc::ENOTDIR));
    }
}
