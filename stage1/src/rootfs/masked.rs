//! maskedPaths and readonlyPaths, applied through fds after pivot_root. The /dev/null
//! used to mask files is checked to be the real 1:3 node, so a rootfs cannot make us
//! bind something else over a path (CVE-2025-31133 class).

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use super::path;
use super::RootfsError;
use crate::sys;

fn skip_missing(
    r: std::io::Result<std::os::fd::OwnedFd>,
) -> Result<Option<std::os::fd::OwnedFd>, std::io::Error> {
    match r {
        Ok(fd) => Ok(Some(fd)),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Hides `p`: an empty read-only tmpfs over a directory, /dev/null over anything else.
pub fn mask(root: BorrowedFd<'_>, p: &Path) -> Result<(), RootfsError> {
    let Some(fd) = skip_missing(path::open(root, p)).map_err(RootfsError::target(p))? else {
        return Ok(());
    };
    let st = sys::fstat(fd.as_fd()).map_err(RootfsError::io("stat", p))?;
    let target = sys::fd_path(fd.as_fd());
    let err = |what: &str| {
        let what = what.to_string();
        move |source| RootfsError::Mount {
            what,
            dest: p.to_path_buf(),
            flags: "ro".into(),
            source,
        }
    };
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        sys::mount(
            Some(c"tmpfs"),
            &target,
            Some(c"tmpfs"),
            libc::MS_RDONLY,
            None,
        )
        .map_err(err("tmpfs"))
    } else {
        let null = path::open(root, Path::new("/dev/null"))
            .map_err(RootfsError::io("open", Path::new("/dev/null")))?;
        let ns =
            sys::fstat(null.as_fd()).map_err(RootfsError::io("stat", Path::new("/dev/null")))?;
        if ns.st_mode & libc::S_IFMT != libc::S_IFCHR || ns.st_rdev != libc::makedev(1, 3) {
            return Err(RootfsError::Invalid(
                "/dev/null in the container is not the null device".into(),
            ));
        }
        sys::mount(
            Some(&sys::fd_path(null.as_fd())),
            &target,
            None,
            libc::MS_BIND,
            None,
        )
        .map_err(err("/dev/null"))
    }
}

/// Makes `p` read-only: bind it onto itself, then remount the bind read-only.
pub fn readonly(root: BorrowedFd<'_>, p: &Path) -> Result<(), RootfsError> {
    let Some(fd) = skip_missing(path::open(root, p)).map_err(RootfsError::target(p))? else {
        return Ok(());
    };
    let t = sys::fd_path(fd.as_fd());
    sys::mount(Some(&t), &t, None, libc::MS_BIND | libc::MS_REC, None).map_err(|source| {
        RootfsError::Mount {
            what: "bind".into(),
            dest: p.to_path_buf(),
            flags: "rbind".into(),
            source,
        }
    })?;
    drop(fd);
    super::mounts::remount(root, p, libc::MS_BIND | libc::MS_RDONLY)
}
