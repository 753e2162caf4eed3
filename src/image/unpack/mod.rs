//! Layers unpacked safely into `<layers_dir>/<hex of diff_id>`, ready to be overlayfs
//! lower dirs.
//!
//! A layer is streamed once, through a pipeline (`pipe`): read and decompressed on the
//! caller's thread (`stream`), hashed for its diff_id on another (`hash`), and on a
//! third parsed by the tar crate entry by entry (never `unpack_in`, which resolves
//! symlinks on the host), each entry applied under the layer root through fds (`entry`,
//! `resolve`, `node`, `data`): nothing a layer says can land outside it. OCI whiteouts become overlay whiteouts
//! (`.wh.NAME` a 0:0 character device, `.wh..wh..opq` the `trusted.overlay.opaque=y`
//! xattr). Everything happens in `<layers_dir>/.tmp-<random>`, renamed into place only
//! when the whole stream unpacked and hashed to the diff_id, after a `syncfs`: a failed
//! or interrupted unpack leaves no layer (DESIGN.md rule 4), and the temp dir of a
//! failure is removed (a process killed mid-unpack leaves its `.tmp-*`, never a layer).
//!
//! Kept as data, as the layer says: owners, modes (setuid and setgid included), device
//! nodes (root in a layer may ship `/dev` entries; they are made where the entry says,
//! under the root, like any other entry). They only matter inside a container: the
//! layers directory is kept 0700, so no host user but root can reach them.
//!
//! Refused, with the entry named: `..` components (a leading `/` is only dropped),
//! hardlinks whose target is not an earlier entry of the layer, a parent that is a
//! symlink to nothing inside the layer, a stream that ends inside an entry, unknown
//! entry types, bad whiteout names (`.wh.`, `.wh..`, `.wh...`), GNU sparse holes beyond
//! `sparse::HOLE_BUDGET`.

mod data;
mod entry;
pub mod fuzzing;
mod hash;
mod meta;
mod node;
mod path;
mod pipe;
mod resolve;
mod sparse;
mod stream;
pub(crate) mod tree;

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::sys;

pub use meta::MetaError;
pub(crate) use meta::{keep_xattr, Target as XattrTarget};
pub use path::NameError;
pub use sparse::SparseError;

/// What went wrong with one step of unpacking a layer.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("layer diff_id `{diff_id}`: want sha256:<64 lowercase hex digits>")]
    DiffId { diff_id: String },
    #[error("layer media type `{media_type}` is not a tar layer (…tar, …tar+gzip, …tar+zstd)")]
    MediaType { media_type: String },
    #[error("{step} `{}`", path.display())]
    LayersDir {
        step: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("layer {diff_id}: {step} {}", where_in(after))]
    Stream {
        diff_id: String,
        step: &'static str,
        after: String,
        #[source]
        source: io::Error,
    },
    #[error("layer {diff_id}: the stream ends inside entry `{path}`")]
    Truncated { diff_id: String, path: String },
    #[error("layer {diff_id}: entry `{path}`: {reason}")]
    Name {
        diff_id: String,
        path: String,
        reason: NameError,
    },
    #[error("layer {diff_id}: entry `{path}`: link target `{target}`: {reason}")]
    LinkTarget {
        diff_id: String,
        path: String,
        target: String,
        reason: NameError,
    },
    #[error("layer {diff_id}: entry `{path}`: unsupported entry type {kind:?}")]
    EntryType {
        diff_id: String,
        path: String,
        kind: char,
    },
    #[error("layer {diff_id}: entry `{path}`: {source}")]
    Meta {
        diff_id: String,
        path: String,
        #[source]
        source: MetaError,
    },
    #[error("layer {diff_id}: entry `{path}`: {reason}")]
    Sparse {
        diff_id: String,
        path: String,
        reason: SparseError,
    },
    #[error("layer {diff_id}: entry `{path}`: {step}")]
    Apply {
        diff_id: String,
        path: String,
        step: Step,
        #[source]
        source: io::Error,
    },
    #[error("layer content does not match its diff_id {expected} (it hashes to sha256:{actual})")]
    Mismatch { expected: String, actual: String },
    #[error("{error}; removing the partial layer `{}` failed too: {cleanup}", path.display())]
    Cleanup {
        path: PathBuf,
        #[source]
        error: Box<UnpackError>,
        cleanup: io::Error,
    },
}

/// Where in the stream a read failed: after the last entry read whole.
fn where_in(after: &str) -> String {
    if after.is_empty() {
        "at the start of the layer".to_owned()
    } else {
        format!("after entry `{after}`")
    }
}

/// The step of applying an entry that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Opening or making a directory on the way (the prefix of the entry's path).
    Parent(PathBuf),
    RemoveExisting,
    CreateDir,
    CreateFile,
    WriteData,
    CreateSymlink,
    /// Linking to an earlier entry.
    CreateHardlink(String),
    CreateNode,
    CreateWhiteout,
    SetOpaque,
    SetOwner,
    SetMode,
    SetXattr(OsString),
    SetTimes,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Parent(p) if p.as_os_str().is_empty() => write!(f, "open the layer root"),
            Step::Parent(p) => write!(f, "open or make the directory `{}`", p.display()),
            Step::RemoveExisting => write!(f, "remove what an earlier entry made there"),
            Step::CreateDir => write!(f, "create the directory"),
            Step::CreateFile => write!(f, "create the file"),
            Step::WriteData => write!(f, "write the file's data"),
            Step::CreateSymlink => write!(f, "create the symlink"),
            Step::CreateHardlink(t) => write!(f, "create the hardlink to `{t}`"),
            Step::CreateNode => write!(f, "create the device node or fifo"),
            Step::CreateWhiteout => write!(f, "create the whiteout"),
            Step::SetOpaque => write!(f, "mark the directory opaque"),
            Step::SetOwner => write!(f, "set the owner"),
            Step::SetMode => write!(f, "set the mode"),
            Step::SetXattr(n) => write!(f, "set the xattr `{}`", n.to_string_lossy()),
            Step::SetTimes => write!(f, "set the times"),
        }
    }
}

/// Unpacks the layer `reader` holds (compressed as `media_type` says) into
/// `<layers_dir>/<hex of diff_id>` and returns that directory. When it exists already,
/// returns it without reading anything.
pub fn unpack_layer(
    reader: impl Read,
    media_type: &str,
    layers_dir: &Path,
    diff_id: &str,
) -> Result<PathBuf, UnpackError> {
    let hex = parse_diff_id(diff_id)?;
    let compression =
        stream::compression_for(media_type).ok_or_else(|| UnpackError::MediaType {
            media_type: media_type.to_owned(),
        })?;
    let layers = open_layers_dir(layers_dir)?;
    let final_dir = layers_dir.join(hex);
    let dir_err = |step, source| UnpackError::LayersDir {
        step,
        path: final_dir.clone(),
        source,
    };
    match sys::stat_at(layers.as_fd(), OsStr::new(hex)) {
        Ok(st) if tree::is_dir(&st) => return Ok(final_dir),
        Ok(_) => {
            return Err(dir_err(
                "use the layer directory",
                io::Error::from_raw_os_error(libc::ENOTDIR),
            ))
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        Err(e) => return Err(dir_err("look up the layer directory", e)),
    }

    let (tmp_name, tmp) = make_temp(layers.as_fd(), layers_dir)?;
    let tmp_path = layers_dir.join(&tmp_name);
    let result = entry::unpack_into(tmp, reader, compression, diff_id).and_then(|actual| {
        if actual != hex {
            return Err(UnpackError::Mismatch {
                expected: diff_id.to_owned(),
                actual,
            });
        }
        publish(layers.as_fd(), &tmp_name, hex).map_err(|(step, source)| dir_err(step, source))
    });
    match result {
        Ok(()) => Ok(final_dir),
        Err(error) => match tree::remove_all(layers.as_fd(), &tmp_name) {
            Ok(()) => Err(error),
            Err(cleanup) => Err(UnpackError::Cleanup {
                path: tmp_path,
                error: Box::new(error),
                cleanup,
            }),
        },
    }
}

/// The hex of a `sha256:<64 lowercase hex>` diff_id.
fn parse_diff_id(diff_id: &str) -> Result<&str, UnpackError> {
    diff_id
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .ok_or_else(|| UnpackError::DiffId {
            diff_id: diff_id.to_owned(),
        })
}

/// Opens (making it if needed) the layers directory, and keeps it 0700: layers hold
/// setuid files and device nodes that must stay data, out of reach of host users.
fn open_layers_dir(layers_dir: &Path) -> Result<OwnedFd, UnpackError> {
    let err = |step, source| UnpackError::LayersDir {
        step,
        path: layers_dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(layers_dir).map_err(|e| err("create the layers directory", e))?;
    let fd = sys::openat(None, layers_dir, libc::O_RDONLY | libc::O_DIRECTORY, 0)
        .map_err(|e| err("open the layers directory", e))?;
    let st = sys::fstat(fd.as_fd()).map_err(|e| err("stat the layers directory", e))?;
    if st.st_mode & 0o077 != 0 {
        sys::fchmod(fd.as_fd(), st.st_mode & 0o7700)
            .map_err(|e| err("make the layers directory private (0700)", e))?;
    }
    Ok(fd)
}

/// Makes `.tmp-<random>` (0700) in the layers directory.
fn make_temp(
    layers: BorrowedFd<'_>,
    layers_dir: &Path,
) -> Result<(OsString, OwnedFd), UnpackError> {
    let err = |source| UnpackError::LayersDir {
        step: "make a temporary directory in",
        path: layers_dir.to_path_buf(),
        source,
    };
    loop {
        let mut rnd = [0u8; 8];
        sys::getrandom(&mut rnd).map_err(err)?;
        let name = OsString::from(format!(".tmp-{}", stream::hex(&rnd)));
        match sys::mkdirat(layers, &name, 0o700) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => continue,
            Err(e) => return Err(err(e)),
        }
        let fd = tree::open_child_dir(layers, &name);
        return match fd {
            Ok(fd) => Ok((name, fd)),
            Err(e) => {
                let _ = sys::unlinkat(layers, &name, true);
                Err(err(e))
            }
        };
    }
}

/// Writes the unpacked tree out and renames it into place. Another process that
/// unpacked the same layer first wins: its tree is as good, ours is removed.
fn publish(
    layers: BorrowedFd<'_>,
    tmp: &OsStr,
    hex: &str,
) -> Result<(), (&'static str, io::Error)> {
    sys::syncfs(layers).map_err(|e| ("write out the unpacked layer", e))?;
    match sys::rename_noreplace(layers, tmp, layers, OsStr::new(hex)) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
            return tree::remove_all(layers, tmp).map_err(|e| ("remove a second copy of", e));
        }
        Err(e) => return Err(("rename the unpacked layer into", e)),
    }
    sys::fsync(layers).map_err(|e| ("write out the layers directory for", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_cross_threads() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<UnpackError>();
        send_sync::<crate::image::render::RenderError>();
    }

    #[test]
    fn diff_ids() {
        let ok = format!("sha256:{}", "a".repeat(64));
        assert_eq!(parse_diff_id(&ok).unwrap(), "a".repeat(64));
        for bad in [
            "sha256:".to_owned(),
            format!("sha256:{}", "A".repeat(64)),
            format!("sha512:{}", "a".repeat(64)),
            format!("sha256:{}", "a".repeat(63)),
            format!("sha256:../{}", "a".repeat(61)),
            "a".repeat(64),
        ] {
            assert!(parse_diff_id(&bad).is_err(), "{bad}");
        }
    }
}
