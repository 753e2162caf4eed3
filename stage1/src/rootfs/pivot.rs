//! pivot_root into the rootfs (or, with --no-pivot, MS_MOVE and chroot), leaving the
//! host's root detached and unreachable.

use std::os::fd::AsFd;
use std::path::Path;

use super::RootfsError;
use crate::sys;

pub fn pivot(rootfs: &Path, no_pivot: bool) -> Result<(), RootfsError> {
    let io = |step| {
        move |source| RootfsError::Io {
            step,
            path: rootfs.to_path_buf(),
            source,
        }
    };
    if no_pivot {
        sys::chdir(rootfs).map_err(io("chdir"))?;
        sys::mount_path(Some(c"."), Path::new("/"), None, libc::MS_MOVE, None)
            .map_err(io("move mount"))?;
        sys::chroot(Path::new(".")).map_err(io("chroot"))?;
        return sys::chdir(Path::new("/")).map_err(io("chdir"));
    }
    let old = sys::openat(None, Path::new("/"), libc::O_PATH | libc::O_DIRECTORY, 0)
        .map_err(io("open old root"))?;
    let new = sys::openat(None, rootfs, libc::O_PATH | libc::O_DIRECTORY, 0).map_err(io("open"))?;
    sys::fchdir(new.as_fd()).map_err(io("chdir"))?;
    sys::pivot_root_here().map_err(io("pivot_root into"))?;
    // The old root is stacked on "."; go there, make sure its unmount cannot reach the
    // host's mounts, and detach it.
    sys::fchdir(old.as_fd()).map_err(io("chdir to old root over"))?;
    sys::mount_path(
        None,
        Path::new("."),
        None,
        libc::MS_SLAVE | libc::MS_REC,
        None,
    )
    .map_err(io("make old root slave over"))?;
    sys::umount2(Path::new("."), libc::MNT_DETACH).map_err(io("detach old root over"))?;
    sys::chdir(Path::new("/")).map_err(io("chdir"))
}

/// pivot_root refuses a new root whose parent mount is shared, and an unbindable one
/// cannot be bound at all: make that mount private (only needed when rootfsPropagation
/// asks for shared or unbindable; it is applied to the new root after pivot_root).
pub fn make_parent_private(rootfs: &Path) -> Result<(), RootfsError> {
    let text =
        std::fs::read_to_string("/proc/self/mountinfo").map_err(|source| RootfsError::Io {
            step: "read",
            path: "/proc/self/mountinfo".into(),
            source,
        })?;
    let mut best: Option<(&str, bool)> = None;
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        if f.len() < 7 {
            continue;
        }
        let mp = f[4];
        if rootfs.starts_with(mp) && best.is_none_or(|(b, _)| mp.len() >= b.len()) {
            let shared = f[6..]
                .iter()
                .take_while(|x| **x != "-")
                .any(|x| x.starts_with("shared:") || *x == "unbindable");
            best = Some((mp, shared));
        }
    }
    if let Some((mp, true)) = best {
        sys::mount_path(None, Path::new(mp), None, libc::MS_PRIVATE, None).map_err(|source| {
            RootfsError::Io {
                step: "make private",
                path: mp.into(),
                source,
            }
        })?;
    }
    Ok(())
}
