//! `hoist image render`: the layers of an image flattened into a plain directory, for
//! tools that need one (and for tests), with overlayfs' semantics: layers applied lowest
//! first, a whiteout (character device 0:0) removes the lower entry, an opaque directory
//! (`trusted.overlay.opaque=y`) hides the lower directory's content, a directory over a
//! non-directory replaces it. Modes, owners, symlinks, hardlinks within a layer, device
//! nodes, fifos, times, xattrs (those `unpack` keeps) and sparse holes are kept.
//!
//! Everything under `dest` is made through fds: each layer and `dest` are walked side by
//! side, one directory fd each, going down with `openat(O_NOFOLLOW)` and back up with
//! `..` checked against the directory it came from, and every object is made with the
//! `*at()` calls in its parent's fd, so a symlink of a lower layer is replaced, never
//! written through. `dest` must be empty (or missing): whiteouts remove things, and must
//! only ever remove what an earlier layer put there. On failure `dest` is emptied again.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::image::unpack::tree::{self, Id};
use crate::image::unpack::{keep_xattr, XattrTarget};
use crate::sys::{self, DirEntry, RESOLVE_BENEATH, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS};

/// What went wrong rendering layers into a directory.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{step} `{}`", path.display())]
    Dest {
        step: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("render into `{}`: the directory is not empty", path.display())]
    NotEmpty { path: PathBuf },
    #[error("open the layer `{}`", layer.display())]
    OpenLayer {
        layer: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("layer `{}`: `/{}`: {step}", layer.display(), path.display())]
    Copy {
        layer: PathBuf,
        path: PathBuf,
        step: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{error}; emptying `{}` again failed too: {cleanup}", path.display())]
    Cleanup {
        path: PathBuf,
        #[source]
        error: Box<RenderError>,
        cleanup: io::Error,
    },
}

type Failed = (&'static str, io::Error);

fn at(step: &'static str) -> impl FnOnce(io::Error) -> Failed {
    move |e| (step, e)
}

const DIR: i32 = libc::O_RDONLY | libc::O_DIRECTORY;

/// Copies `layer_dirs` (lowest first) into `dest`, which must be empty or missing.
pub fn render(layer_dirs: &[PathBuf], dest: &Path) -> Result<(), RenderError> {
    let dest_err = |step, source| RenderError::Dest {
        step,
        path: dest.to_path_buf(),
        source,
    };
    let created = match std::fs::create_dir(dest) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
        Err(e) => return Err(dest_err("create the directory", e)),
    };
    let root = sys::openat(None, dest, DIR, 0).map_err(|e| dest_err("open the directory", e))?;
    let listing = sys::read_dir(root.as_fd()).map_err(|e| dest_err("list the directory", e))?;
    if !listing.is_empty() {
        return Err(RenderError::NotEmpty {
            path: dest.to_path_buf(),
        });
    }
    let result = layer_dirs
        .iter()
        .try_for_each(|layer| copy_layer(layer, root.as_fd()));
    let Err(error) = result else {
        return Ok(());
    };
    let cleanup = sys::openat(None, dest, DIR, 0)
        .and_then(tree::clear_dir)
        .and_then(|()| {
            if created {
                std::fs::remove_dir(dest)
            } else {
                Ok(())
            }
        });
    match cleanup {
        Ok(()) => Err(error),
        Err(cleanup) => Err(RenderError::Cleanup {
            path: dest.to_path_buf(),
            error: Box::new(error),
            cleanup,
        }),
    }
}

/// One directory level of the walk: where to go on once the child is done.
struct Frame {
    rest: Vec<DirEntry>,
    src_parent: Id,
    dst_parent: Id,
}

/// The two directories being walked, and where they are.
struct Walk<'a> {
    dest: BorrowedFd<'a>,
    src: OwnedFd,
    dst: OwnedFd,
    rel: PathBuf,
    /// First copies of multiply-linked files of this layer, by (dev, ino), as paths
    /// under `dest`.
    links: HashMap<(u64, u64), PathBuf>,
}

fn copy_layer(layer: &Path, dest: BorrowedFd<'_>) -> Result<(), RenderError> {
    let src = sys::openat(None, layer, DIR, 0).map_err(|source| RenderError::OpenLayer {
        layer: layer.to_path_buf(),
        source,
    })?;
    let dst = sys::openat(Some(dest), Path::new("."), DIR, 0).map_err(|source| {
        RenderError::OpenLayer {
            layer: layer.to_path_buf(),
            source,
        }
    })?;
    let mut w = Walk {
        dest,
        src,
        dst,
        rel: PathBuf::new(),
        links: HashMap::new(),
    };
    w.run().map_err(|(path, (step, source))| RenderError::Copy {
        layer: layer.to_path_buf(),
        path,
        step,
        source,
    })
}

impl Walk<'_> {
    fn run(&mut self) -> Result<(), (PathBuf, Failed)> {
        let mut entries = sys::read_dir(self.src.as_fd())
            .map_err(|e| (self.rel.clone(), ("list the directory", e)))?;
        let mut stack: Vec<Frame> = Vec::new();
        loop {
            if let Some(e) = entries.pop() {
                let here = self.rel.join(&e.name);
                if let Some(rest) = self.entry(&e.name, &mut entries).map_err(|f| (here, f))? {
                    stack.push(rest);
                    self.rel.push(&e.name);
                    entries = sys::read_dir(self.src.as_fd())
                        .map_err(|err| (self.rel.clone(), ("list the directory", err)))?;
                }
                continue;
            }
            // The directory's content is in: its own metadata last (times included).
            copy_dir_meta(self.src.as_fd(), self.dst.as_fd()).map_err(|f| (self.rel.clone(), f))?;
            let Some(f) = stack.pop() else {
                return Ok(());
            };
            let up = |fd: &OwnedFd, id| tree::open_parent_checked(fd.as_fd(), id);
            self.src = up(&self.src, f.src_parent).map_err(|e| (self.rel.clone(), ("go up", e)))?;
            self.dst = up(&self.dst, f.dst_parent).map_err(|e| (self.rel.clone(), ("go up", e)))?;
            self.rel.pop();
            entries = f.rest;
        }
    }

    /// Applies one entry of the current directory. For a directory, descends into it
    /// and returns the frame to come back to.
    fn entry(
        &mut self,
        name: &OsStr,
        entries: &mut Vec<DirEntry>,
    ) -> Result<Option<Frame>, Failed> {
        let (src, dst) = (self.src.as_fd(), self.dst.as_fd());
        let st = sys::stat_at(src, name).map_err(at("stat"))?;
        if tree::is_whiteout(&st) {
            return tree::remove_all(dst, name)
                .map(|()| None)
                .map_err(at("remove the lower entry"));
        }
        let below = match sys::stat_at(dst, name) {
            Ok(b) => Some(b),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => None,
            Err(e) => return Err(("stat the lower entry", e)),
        };
        if !tree::is_dir(&st) {
            if below.is_some() {
                tree::remove_all(dst, name).map_err(at("remove the lower entry"))?;
            }
            return self.copy_other(name, &st).map(|()| None);
        }
        let merge = match below {
            Some(b) if tree::is_dir(&b) => true,
            Some(_) => {
                tree::remove_all(dst, name).map_err(at("remove the lower entry"))?;
                false
            }
            None => false,
        };
        if !merge {
            sys::mkdirat(dst, name, 0o700).map_err(at("create the directory"))?;
        }
        let s = tree::open_child_dir(src, name).map_err(at("open the directory"))?;
        let d = tree::open_child_dir(dst, name).map_err(at("open the directory"))?;
        if merge && is_opaque(s.as_fd()).map_err(at("read the opaque xattr"))? {
            let again = tree::open_child_dir(dst, name).map_err(at("open the directory"))?;
            tree::clear_dir(again).map_err(at("hide the lower directory's content"))?;
        }
        let frame = Frame {
            rest: std::mem::take(entries),
            src_parent: tree::id(src).map_err(at("stat"))?,
            dst_parent: tree::id(dst).map_err(at("stat"))?,
        };
        self.src = s;
        self.dst = d;
        Ok(Some(frame))
    }

    /// A non-directory: a hardlink to its first copy when this layer links it more than
    /// once, else a copy.
    fn copy_other(&mut self, name: &OsStr, st: &libc::stat) -> Result<(), Failed> {
        let (src, dst) = (self.src.as_fd(), self.dst.as_fd());
        let key = (st.st_dev, st.st_ino);
        if st.st_nlink > 1 {
            if let Some(first) = self.links.get(&key) {
                return link_to(self.dest, first, dst, name);
            }
            self.links.insert(key, self.rel.join(name));
        }
        match st.st_mode & libc::S_IFMT {
            libc::S_IFREG => copy_file(src, dst, name, st),
            libc::S_IFLNK => {
                let target = sys::readlinkat(src, name).map_err(at("read the symlink"))?;
                sys::symlinkat(&target, dst, name).map_err(at("create the symlink"))?;
                copy_at_meta(src, dst, name, st, true)
            }
            t @ (libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO) => {
                sys::mknodat(dst, name, t | 0o600, st.st_rdev).map_err(at("create the node"))?;
                copy_at_meta(src, dst, name, st, false)
            }
            _ => Err((
                "copy",
                io::Error::new(io::ErrorKind::Unsupported, "not a file type a layer holds"),
            )),
        }
    }
}

/// Links `name` in `dst` to the earlier copy `first` (a path under `dest` this walk
/// made, resolved beneath `dest` with no symlinks).
fn link_to(
    dest: BorrowedFd<'_>,
    first: &Path,
    dst: BorrowedFd<'_>,
    name: &OsStr,
) -> Result<(), Failed> {
    let parent = first
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let fname = first.file_name().unwrap_or_default();
    let resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    let p = sys::openat2(dest, parent, libc::O_PATH | libc::O_DIRECTORY, 0, resolve)
        .map_err(at("find the first link"))?;
    sys::linkat(p.as_fd(), fname, dst, name).map_err(at("create the hardlink"))
}

fn is_opaque(dir: BorrowedFd<'_>) -> io::Result<bool> {
    match sys::fgetxattr(dir, OsStr::new("trusted.overlay.opaque")) {
        Ok(v) => Ok(v == b"y"),
        Err(e) if e.raw_os_error() == Some(libc::ENODATA) => Ok(false),
        Err(e) => Err(e),
    }
}

fn times(st: &libc::stat) -> sys::Times {
    [
        libc::timespec {
            tv_sec: st.st_atime,
            tv_nsec: st.st_atime_nsec,
        },
        libc::timespec {
            tv_sec: st.st_mtime,
            tv_nsec: st.st_mtime_nsec,
        },
    ]
}

/// The xattrs worth copying: those `unpack` keeps, never the overlay's own.
fn xattr_names(names: Vec<OsString>, target: XattrTarget) -> impl Iterator<Item = OsString> {
    names
        .into_iter()
        .filter(move |n| keep_xattr(n.as_encoded_bytes(), target))
}

/// Owner, mode, xattrs and times of a directory, fd to fd.
fn copy_dir_meta(src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> Result<(), Failed> {
    let st = sys::fstat(src).map_err(at("stat"))?;
    copy_fd_meta(src, dst, &st)
}

fn copy_fd_meta(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, st: &libc::stat) -> Result<(), Failed> {
    sys::fchown(dst, st.st_uid, st.st_gid).map_err(at("set the owner"))?;
    sys::fchmod(dst, st.st_mode & 0o7777).map_err(at("set the mode"))?;
    let names = sys::flistxattr(src).map_err(at("list xattrs"))?;
    for n in xattr_names(names, XattrTarget::FileOrDir) {
        let v = sys::fgetxattr(src, &n).map_err(at("read an xattr"))?;
        sys::fsetxattr(dst, &n, &v).map_err(at("set an xattr"))?;
    }
    sys::futimens(dst, &times(st)).map_err(at("set the times"))
}

/// Owner, mode (not for symlinks), xattrs and times of `name`, never following it.
fn copy_at_meta(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    name: &OsStr,
    st: &libc::stat,
    symlink: bool,
) -> Result<(), Failed> {
    sys::chown_at(dst, name, st.st_uid, st.st_gid).map_err(at("set the owner"))?;
    if !symlink {
        sys::chmod_at(dst, name, st.st_mode & 0o7777).map_err(at("set the mode"))?;
    }
    let names = sys::listxattr_at(src, name).map_err(at("list xattrs"))?;
    for n in xattr_names(names, XattrTarget::Other) {
        let v = sys::getxattr_at(src, name, &n).map_err(at("read an xattr"))?;
        sys::setxattr_at(dst, name, &n, &v).map_err(at("set an xattr"))?;
    }
    sys::utimens_at(dst, name, &times(st)).map_err(at("set the times"))
}

/// A regular file: its data extents copied (holes stay holes), then its metadata.
fn copy_file(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    name: &OsStr,
    st: &libc::stat,
) -> Result<(), Failed> {
    let nofollow = libc::O_NOFOLLOW;
    let s: File = sys::openat(Some(src), Path::new(name), libc::O_RDONLY | nofollow, 0)
        .map_err(at("open the file"))?
        .into();
    let d: File = sys::openat(
        Some(dst),
        Path::new(name),
        libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | nofollow,
        0o600,
    )
    .map_err(at("create the file"))?
    .into();
    let size = u64::try_from(st.st_size).unwrap_or(0);
    copy_extents(&s, &d, size).map_err(at("copy the data"))?;
    copy_fd_meta(s.as_fd(), d.as_fd(), st)
}

fn copy_extents(s: &File, d: &File, size: u64) -> io::Result<()> {
    let mut off = 0u64;
    while off < size {
        let data = match sys::seek_data(s.as_fd(), off) {
            Ok(Some(o)) => o,
            Ok(None) => break,
            // No SEEK_DATA on this filesystem: everything is data.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => off,
            Err(e) => return Err(e),
        };
        if data >= size {
            break;
        }
        let hole = match sys::seek_hole(s.as_fd(), data) {
            Ok(Some(h)) => h.min(size),
            Ok(None) => size,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => size,
            Err(e) => return Err(e),
        };
        let (mut src, mut dst) = (s, d);
        src.seek(SeekFrom::Start(data))?;
        dst.seek(SeekFrom::Start(data))?;
        // File to file: std copies with copy_file_range where it can.
        let n = io::copy(&mut src.take(hole - data), &mut dst)?;
        if n != hole - data {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the layer file shrank while it was copied",
            ));
        }
        off = hole;
    }
    d.set_len(size)
}
