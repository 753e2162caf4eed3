//! Paths inside the rootfs, resolved under it through fds (DESIGN.md rule 1): every
//! lookup is `openat2(root, path, RESOLVE_IN_ROOT)`, so `..` and symlinks, absolute or
//! not, stay inside, and a mount target is the fd that was checked, never a string.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use crate::sys::{self, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS};

const RESOLVE: u64 = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

/// What to make when the last component is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Make {
    Nothing,
    Dir,
    File,
}

/// `path` made relative (leading `/` dropped) for openat2 under a root fd.
pub fn relative(path: &Path) -> PathBuf {
    let rel: PathBuf = path
        .components()
        .filter(|c| !matches!(c, Component::RootDir | Component::CurDir))
        .collect();
    if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    }
}

/// Opens `path` under `root` as an O_PATH fd.
pub fn open(root: BorrowedFd<'_>, path: &Path) -> io::Result<OwnedFd> {
    sys::openat2(root, &relative(path), libc::O_PATH, 0, RESOLVE)
}

/// Opens `path` under `root` with real open flags (reading, writing).
pub fn open_with(root: BorrowedFd<'_>, path: &Path, flags: i32) -> io::Result<OwnedFd> {
    sys::openat2(root, &relative(path), flags, 0, RESOLVE)
}

/// Opens `path` under `root` (O_PATH), making the missing directories on the way and
/// the last component as `make` says.
pub fn open_or_make(root: BorrowedFd<'_>, path: &Path, make: Make) -> io::Result<OwnedFd> {
    open_or_make_depth(root, path, make, 0)
}

fn open_or_make_depth(
    root: BorrowedFd<'_>,
    path: &Path,
    make: Make,
    depth: u32,
) -> io::Result<OwnedFd> {
    // As many dangling symlinks as the kernel would follow.
    if depth > 40 {
        return Err(io::Error::from_raw_os_error(libc::ELOOP));
    }
    match open(root, path) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) && make != Make::Nothing => {}
        other => return other,
    }
    let rel = relative(path);
    let comps: Vec<&std::ffi::OsStr> = rel.iter().collect();
    let mut prefix = PathBuf::new();
    let mut parent = sys::openat2(
        root,
        Path::new("."),
        libc::O_PATH | libc::O_DIRECTORY,
        0,
        RESOLVE,
    )?;
    for (i, c) in comps.iter().enumerate() {
        prefix.push(c);
        let last = i + 1 == comps.len();
        match open(root, &prefix) {
            Ok(fd) => {
                parent = fd;
                continue;
            }
            Err(e) if e.raw_os_error() != Some(libc::ENOENT) => return Err(e),
            Err(_) => {}
        }
        if *c == ".." {
            // `..` that does not exist cannot happen under a root; refuse rather than guess.
            return Err(io::Error::from_raw_os_error(libc::ENOENT));
        }
        if last && make == Make::File {
            let f = sys::openat2(
                parent.as_fd(),
                Path::new(c),
                libc::O_CREAT | libc::O_WRONLY | libc::O_NOFOLLOW,
                0o644,
                RESOLVE,
            )?;
            drop(f);
        } else {
            match sys::mkdirat(parent.as_fd(), Path::new(c), 0o755) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                    // A dangling symlink (`/var/run -> /run` with no /run yet): make
                    // what it points to, under the root, then go on through it.
                    if let Ok(target) = sys::readlinkat(parent.as_fd(), Path::new(c)) {
                        let base = prefix.parent().map(Path::to_path_buf).unwrap_or_default();
                        let next = if target.is_absolute() {
                            target
                        } else {
                            base.join(target)
                        };
                        open_or_make_depth(root, &next, Make::Dir, depth + 1)?;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        // Reopen through the root: what we just made is what the path now names.
        parent = open(root, &prefix)?;
    }
    Ok(parent)
}

/// The parent directory of `path` under `root` (made if missing) and the final name.
pub fn parent_and_name(root: BorrowedFd<'_>, path: &Path) -> io::Result<(OwnedFd, PathBuf)> {
    let rel = relative(path);
    let name = rel
        .file_name()
        .map(PathBuf::from)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    let parent = match rel.parent() {
        Some(p) if !p.as_os_str().is_empty() => open_or_make(root, p, Make::Dir)?,
        _ => sys::openat2(
            root,
            Path::new("."),
            libc::O_PATH | libc::O_DIRECTORY,
            0,
            RESOLVE,
        )?,
    };
    // An O_PATH directory fd serves as the dirfd of mknodat, symlinkat and mkdirat.
    Ok((parent, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn root() -> (tempfile::TempDir, OwnedFd) {
        let t = tempfile::tempdir().unwrap();
        let fd = sys::openat(None, t.path(), libc::O_PATH | libc::O_DIRECTORY, 0).unwrap();
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
    fn makes_dirs_and_files() {
        let (t, r) = root();
        let fd = open_or_make(r.as_fd(), Path::new("/a/b/c"), Make::Dir).unwrap();
        assert_eq!(real(&fd), t.path().join("a/b/c"));
        let fd = open_or_make(r.as_fd(), Path::new("/x/f"), Make::File).unwrap();
        assert_eq!(real(&fd), t.path().join("x/f"));
        assert!(t.path().join("x/f").is_file());
    }

    #[test]
    fn absolute_symlink_stays_inside() {
        let (t, r) = root();
        symlink("/etc", t.path().join("link")).unwrap();
        let fd = open_or_make(r.as_fd(), Path::new("/link/passwd-target"), Make::Dir).unwrap();
        // Resolved under the root: <root>/etc/passwd-target, never the host's /etc.
        assert_eq!(real(&fd), t.path().join("etc/passwd-target"));
    }

    #[test]
    fn dotdot_is_clamped() {
        let (t, r) = root();
        let fd = open_or_make(r.as_fd(), Path::new("/../../tmp-x"), Make::Dir).unwrap();
        assert_eq!(real(&fd), t.path().join("tmp-x"));
    }

    #[test]
    fn parent_and_name_works() {
        let (t, r) = root();
        let (_d, n) = parent_and_name(r.as_fd(), Path::new("/dev/null")).unwrap();
        assert_eq!(n, PathBuf::from("null"));
        assert!(t.path().join("dev").is_dir());
    }
}
