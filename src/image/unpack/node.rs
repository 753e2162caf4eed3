//! Making one object of a layer in its (already resolved) parent directory: the last
//! component is never resolved, only created (`mkdirat`, `openat(O_CREAT|O_EXCL|
//! O_NOFOLLOW)`, `symlinkat`, `mknodat`, `linkat`) after whatever an earlier entry made
//! at that name is removed. So an existing symlink is replaced, never written through,
//! and an existing file is replaced, never opened (an earlier hardlink to it keeps its
//! content).
//!
//! Metadata order matters: chown clears setuid/setgid bits and `security.capability`,
//! so owner first, then mode, then xattrs, then times.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use super::meta::{keep_xattr, Meta, Target};
use super::resolve::Existing;
use super::{tree, Step};
use crate::sys;

pub type Failed = (Step, io::Error);

fn at(step: Step) -> impl FnOnce(io::Error) -> Failed {
    move |e| (step, e)
}

/// Clears the name for a new object. Returns whether something was removed.
fn clear(parent: BorrowedFd<'_>, name: &OsStr, existing: Existing) -> Result<bool, Failed> {
    if existing == Existing::Nothing {
        return Ok(false);
    }
    tree::remove_all(parent, name).map_err(at(Step::RemoveExisting))?;
    Ok(true)
}

/// Owner, mode and xattrs of an object open for reading or writing (file, directory).
pub fn set_fd_meta(fd: BorrowedFd<'_>, m: &Meta) -> Result<(), Failed> {
    sys::fchown(fd, m.uid, m.gid).map_err(at(Step::SetOwner))?;
    sys::fchmod(fd, m.mode).map_err(at(Step::SetMode))?;
    for (k, v) in &m.xattrs {
        if keep_xattr(k.as_encoded_bytes(), Target::FileOrDir) {
            sys::fsetxattr(fd, k, v).map_err(|e| (Step::SetXattr(k.clone()), e))?;
        }
    }
    Ok(())
}

/// Owner, mode (not for symlinks), xattrs and times of `name` in `parent`, never
/// following it.
fn set_at_meta(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    m: &Meta,
    symlink: bool,
) -> Result<(), Failed> {
    sys::chown_at(parent, name, m.uid, m.gid).map_err(at(Step::SetOwner))?;
    if !symlink {
        sys::chmod_at(parent, name, m.mode).map_err(at(Step::SetMode))?;
    }
    for (k, v) in &m.xattrs {
        if keep_xattr(k.as_encoded_bytes(), Target::Other) {
            sys::setxattr_at(parent, name, k, v).map_err(|e| (Step::SetXattr(k.clone()), e))?;
        }
    }
    sys::utimens_at(parent, name, &m.times).map_err(at(Step::SetTimes))
}

/// A directory: an existing one is kept (its metadata updated), anything else replaced.
/// A directory replacing a whiteout of the same layer is opaque: the whiteout hid the
/// lower layers' directory, and this one starts empty. Times are the caller's to set
/// once the directory's content is in. Returns whether something was removed.
pub fn dir(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    existing: Existing,
    m: &Meta,
) -> Result<bool, Failed> {
    let removed = if existing == Existing::Dir {
        false
    } else {
        let removed = clear(parent, name, existing)?;
        sys::mkdirat(parent, name, 0o700).map_err(at(Step::CreateDir))?;
        removed
    };
    let fd = tree::open_child_dir(parent, name).map_err(at(Step::CreateDir))?;
    set_fd_meta(fd.as_fd(), m)?;
    if existing == Existing::Whiteout {
        opaque(fd.as_fd())?;
    }
    Ok(removed)
}

/// A new empty regular file, open for writing. Returns whether something was removed.
pub fn create_file(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    existing: Existing,
) -> Result<(File, bool), Failed> {
    let removed = clear(parent, name, existing)?;
    let fd = sys::openat(
        Some(parent),
        Path::new(name),
        libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
        0o600,
    )
    .map_err(at(Step::CreateFile))?;
    Ok((File::from(fd), removed))
}

/// Metadata of a file whose data is written.
pub fn finish_file(file: &File, m: &Meta) -> Result<(), Failed> {
    set_fd_meta(file.as_fd(), m)?;
    sys::futimens(file.as_fd(), &m.times).map_err(at(Step::SetTimes))
}

/// A symlink holding `target`, which is only data: nothing ever resolves it here.
pub fn symlink(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    existing: Existing,
    target: &OsStr,
    m: &Meta,
) -> Result<bool, Failed> {
    let removed = clear(parent, name, existing)?;
    sys::symlinkat(target, parent, name).map_err(at(Step::CreateSymlink))?;
    set_at_meta(parent, name, m, true)?;
    Ok(removed)
}

/// A device node or fifo: `kind` is S_IFCHR, S_IFBLK or S_IFIFO.
pub fn special(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    existing: Existing,
    kind: u32,
    dev: u64,
    m: &Meta,
) -> Result<bool, Failed> {
    let removed = clear(parent, name, existing)?;
    sys::mknodat(parent, name, kind | 0o600, dev).map_err(at(Step::CreateNode))?;
    set_at_meta(parent, name, m, false)?;
    Ok(removed)
}

/// A hardlink to `target_name` in `target_dir` (resolved under the root by the caller;
/// the last component is linked as it is, a symlink included, never followed).
pub fn hardlink(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    existing: Existing,
    target_dir: &OwnedFd,
    target_name: &OsStr,
    shown: &str,
) -> Result<bool, Failed> {
    let step = || Step::CreateHardlink(shown.to_owned());
    let st = sys::stat_at(target_dir.as_fd(), target_name).map_err(|e| (step(), e))?;
    if tree::is_dir(&st) {
        return Err((step(), io::Error::other("the target is a directory")));
    }
    let removed = clear(parent, name, existing)?;
    sys::linkat(target_dir.as_fd(), target_name, parent, name).map_err(|e| (step(), e))?;
    Ok(removed)
}

/// `.wh.NAME`: an overlay whiteout for NAME. An entry of this layer at NAME stays
/// (whiteouts only hide lower layers); a directory of this layer becomes opaque, which is
/// what hiding the lower layers' NAME means for it.
pub fn whiteout(parent: BorrowedFd<'_>, name: &OsStr, existing: Existing) -> Result<(), Failed> {
    match existing {
        Existing::Nothing => {
            sys::mknodat(parent, name, libc::S_IFCHR, 0).map_err(at(Step::CreateWhiteout))
        }
        Existing::Dir => {
            let fd = tree::open_child_dir(parent, name).map_err(at(Step::SetOpaque))?;
            opaque(fd.as_fd())
        }
        Existing::Whiteout | Existing::Other => Ok(()),
    }
}

/// Marks a directory opaque for overlayfs.
pub fn opaque(dir: BorrowedFd<'_>) -> Result<(), Failed> {
    sys::fsetxattr(dir, OsStr::new("trusted.overlay.opaque"), b"y").map_err(at(Step::SetOpaque))
}
