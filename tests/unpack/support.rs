//! Scratch roots and tar builders for the unpack tests.
//!
//! A `Scratch` is a temp dir holding `layers/` (the layers directory under test) and,
//! beside it, `sentinel/` with a file and a directory: the traversal and symlink escapes
//! aim at it (`../../sentinel/…` from a layer's temp dir, or its absolute path), and
//! every test checks that it is exactly as it was, and that a failed unpack leaves
//! `layers/` empty.

// Test helpers: a failed step is a failed test, so they unwrap.
#![allow(dead_code, clippy::unwrap_used)]

use std::ffi::OsStr;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use hoist::image::unpack::{unpack_layer, UnpackError};
use sha2::{Digest as _, Sha256};

pub const TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const TAR_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const DOCKER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

pub struct Scratch {
    pub dir: tempfile::TempDir,
    snapshot: Vec<(PathBuf, u64, i64, Vec<u8>)>,
}

impl Scratch {
    pub fn new() -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix("hoist-unpack-test-")
            .tempdir()
            .unwrap();
        let s = dir.path().join("sentinel");
        std::fs::create_dir_all(s.join("sub")).unwrap();
        std::fs::write(s.join("keep"), b"sentinel\n").unwrap();
        std::fs::write(s.join("sub/deep"), b"deep\n").unwrap();
        let mut me = Scratch {
            dir,
            snapshot: Vec::new(),
        };
        me.snapshot = me.sentinel_state();
        me
    }

    pub fn layers(&self) -> PathBuf {
        self.dir.path().join("layers")
    }

    pub fn sentinel(&self) -> PathBuf {
        self.dir.path().join("sentinel")
    }

    fn sentinel_state(&self) -> Vec<(PathBuf, u64, i64, Vec<u8>)> {
        let mut out = Vec::new();
        let mut todo = vec![self.sentinel()];
        while let Some(d) = todo.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                let m = e.path().symlink_metadata().unwrap();
                let content = if m.is_file() {
                    std::fs::read(e.path()).unwrap()
                } else {
                    Vec::new()
                };
                out.push((e.path(), m.ino(), m.mtime(), content));
                if m.is_dir() {
                    todo.push(e.path());
                }
            }
        }
        out.sort();
        out
    }

    /// The sentinel is as it was, and the scratch dir holds only it and `layers/`.
    pub fn assert_untouched(&self) {
        assert_eq!(self.sentinel_state(), self.snapshot, "the sentinel changed");
        let mut names: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names.retain(|n| n != "layers" && n != "sentinel" && n != "out");
        assert!(
            names.is_empty(),
            "stray entries beside the layers: {names:?}"
        );
    }

    /// `layers/` holds nothing (no layer, no temp dir).
    pub fn assert_no_layer(&self) {
        let left: Vec<_> = match std::fs::read_dir(self.layers()) {
            Ok(rd) => rd.map(|e| e.unwrap().file_name()).collect(),
            Err(_) => Vec::new(),
        };
        assert!(left.is_empty(), "left behind in layers/: {left:?}");
    }

    pub fn unpack(&self, tar: &[u8]) -> Result<PathBuf, UnpackError> {
        unpack_layer(tar, TAR, &self.layers(), &diff_id(tar))
    }

    /// Unpacks a layer that must fail; checks that nothing is left and nothing escaped.
    pub fn refuse(&self, tar: &[u8]) -> UnpackError {
        let e = self.unpack(tar).expect_err("the layer unpacked");
        self.assert_no_layer();
        self.assert_untouched();
        e
    }

    /// Unpacks a layer that must succeed; checks that nothing escaped.
    pub fn accept(&self, tar: &[u8]) -> PathBuf {
        let dir = self
            .unpack(tar)
            .unwrap_or_else(|e| panic!("unpack failed: {e}"));
        assert!(dir.starts_with(self.layers()));
        let names: Vec<_> = std::fs::read_dir(self.layers())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "layers/ holds {names:?}");
        self.assert_untouched();
        dir
    }
}

pub fn diff_id(data: &[u8]) -> String {
    let d = Sha256::digest(data);
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// A layer built entry by entry; names and link names are written raw (the tar crate's
/// setters refuse `..`, which the malicious tests need).
pub struct Layer {
    b: tar::Builder<Vec<u8>>,
}

pub fn header(kind: tar::EntryType, name: &[u8]) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(if kind == tar::EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_600_000_000);
    h.set_size(0);
    let gnu = h.as_gnu_mut().unwrap();
    assert!(name.len() < 100, "use pax/long names for {name:?}");
    gnu.name = [0; 100];
    gnu.name[..name.len()].copy_from_slice(name);
    h
}

impl Default for Layer {
    fn default() -> Self {
        Self::new()
    }
}

impl Layer {
    pub fn new() -> Layer {
        Layer {
            b: tar::Builder::new(Vec::new()),
        }
    }

    /// Appends `h` (checksum set here) with `data`.
    pub fn raw(&mut self, mut h: tar::Header, data: &[u8]) -> &mut Self {
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    /// Appends `h` as it is (its size field may disagree with the data).
    pub fn verbatim(&mut self, h: &tar::Header, data: &[u8]) -> &mut Self {
        self.b.get_mut().extend_from_slice(h.as_bytes());
        self.b.get_mut().extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.b.get_mut().extend(std::iter::repeat_n(0u8, pad));
        self
    }

    pub fn dir(&mut self, name: &str) -> &mut Self {
        self.raw(header(tar::EntryType::Directory, name.as_bytes()), &[])
    }

    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.raw(header(tar::EntryType::Regular, name.as_bytes()), data)
    }

    pub fn link(&mut self, kind: tar::EntryType, name: &str, target: &str) -> &mut Self {
        let mut h = header(kind, name.as_bytes());
        h.set_link_name_literal(target.as_bytes()).unwrap();
        self.raw(h, &[])
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.link(tar::EntryType::Symlink, name, target)
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.link(tar::EntryType::Link, name, target)
    }

    pub fn node(&mut self, kind: tar::EntryType, name: &str, major: u32, minor: u32) -> &mut Self {
        let mut h = header(kind, name.as_bytes());
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.raw(h, &[])
    }

    /// PAX records for the next entry.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        self.b
            .append_pax_extensions(records.iter().map(|(k, v)| (*k, *v)))
            .unwrap();
        self
    }

    /// A file with a name of any length (the tar crate writes a GNU long-name entry).
    pub fn long_file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(1_600_000_000);
        self.b.append_data(&mut h, name, data).unwrap();
        self
    }

    /// A symlink whose target may be of any length (a GNU long-link entry).
    pub fn long_symlink(&mut self, name: &str, target: &str) -> &mut Self {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        h.set_mtime(1_600_000_000);
        self.b.append_link(&mut h, name, target).unwrap();
        self
    }

    pub fn finish(&mut self) -> Vec<u8> {
        let b = std::mem::replace(&mut self.b, tar::Builder::new(Vec::new()));
        b.into_inner().unwrap()
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

/// A 12-byte numeric tar field: octal when it fits, else base-256.
pub fn num12(v: u64) -> [u8; 12] {
    let mut f = [0u8; 12];
    if v < 8u64.pow(11) {
        let s = format!("{v:011o}");
        f[..11].copy_from_slice(s.as_bytes());
    } else {
        f[0] = 0x80;
        f[4..].copy_from_slice(&v.to_be_bytes());
    }
    f
}

/// A GNU sparse ('S') header for `name` of real size `real`, whose data chunks are
/// `chunks` (offset, length; at most 4, in the header itself).
pub fn gnu_sparse_header(name: &str, real: u64, chunks: &[(u64, u64)]) -> tar::Header {
    let mut h = header(tar::EntryType::GNUSparse, name.as_bytes());
    let stored: u64 = chunks.iter().map(|c| c.1).sum();
    h.set_size(stored);
    let gnu = h.as_gnu_mut().unwrap();
    gnu.realsize = num12(real);
    for (i, (off, len)) in chunks.iter().enumerate() {
        gnu.sparse[i].offset = num12(*off);
        gnu.sparse[i].numbytes = num12(*len);
    }
    h.set_cksum();
    h
}

/// A directory fd for reading xattrs through `hoist::sys`.
pub fn dirfd(p: &Path) -> OwnedFd {
    hoist::sys::openat(None, p, libc::O_RDONLY | libc::O_DIRECTORY, 0).unwrap()
}

/// The xattr `key` of `name` in `dir` (not following symlinks), `None` when unset.
pub fn xattr(dir: &Path, name: &str, key: &str) -> Option<Vec<u8>> {
    let fd = dirfd(dir);
    match hoist::sys::getxattr_at(fd.as_fd(), OsStr::new(name), OsStr::new(key)) {
        Ok(v) => Some(v),
        Err(e) if e.raw_os_error() == Some(libc::ENODATA) => None,
        Err(e) => panic!("getxattr {name} {key}: {e}"),
    }
}

pub fn is_whiteout(p: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    let m = p.symlink_metadata().unwrap();
    m.file_type().is_char_device() && m.rdev() == 0
}

pub fn root() -> bool {
    hoist::sys::geteuid() == 0
}

/// Skips (loudly) a test that needs root.
#[macro_export]
macro_rules! need_root {
    () => {
        if !$crate::support::root() {
            eprintln!("skipped: needs root (devices, ownership, trusted xattrs)");
            return;
        }
    };
}
