//! A private store per test, hoist run against it, and what the tests compare: store
//! snapshots (every file's size, mtime and inode) and root filesystem listings.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::common::{busybox_dir, hoist_bin, scratch};

/// A scratch directory with a store at `store/` in it.
pub struct Hoist {
    pub tmp: tempfile::TempDir,
}

impl Hoist {
    pub fn new(prefix: &str) -> Hoist {
        Hoist {
            tmp: scratch(prefix),
        }
    }

    pub fn store(&self) -> PathBuf {
        self.tmp.path().join("store")
    }

    /// A path in the scratch directory, outside the store.
    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(hoist_bin());
        c.arg("--dir").arg(self.store());
        c.stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("spawn hoist")
    }

    /// Runs hoist, fails the test unless it succeeded; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "hoist {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs hoist, which must fail with status 1 and one line `hoist: …` on stderr;
    /// returns that line.
    pub fn fail(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(1),
            "hoist {args:?} should fail with status 1: {err}"
        );
        assert!(
            err.starts_with("hoist: ") && err.ends_with('\n') && err.lines().count() == 1,
            "hoist {args:?}: want one line `hoist: …` on stderr, got {err:?}"
        );
        err.trim_end().to_owned()
    }

    /// `hoist fetch ARGS…`; returns the digest it printed last.
    pub fn fetch(&self, args: &[&str]) -> String {
        let mut all = vec!["fetch"];
        all.extend_from_slice(args);
        last_line(&self.ok(&all))
    }

    /// `hoist image list --format json`.
    pub fn list(&self) -> Vec<Value> {
        let out = self.ok(&["image", "list", "--format", "json"]);
        serde_json::from_str::<Value>(&out)
            .expect("list prints JSON")
            .as_array()
            .expect("list prints an array")
            .clone()
    }

    /// The names `image list` shows.
    pub fn names(&self) -> Vec<String> {
        self.list()
            .iter()
            .map(|e| e["name"].as_str().expect("name").to_owned())
            .collect()
    }

    /// `hoist image inspect NAME`, parsed.
    pub fn inspect(&self, name: &str) -> Value {
        serde_json::from_str(&self.ok(&["image", "inspect", name])).expect("inspect prints JSON")
    }

    /// The store's blob file names.
    pub fn blobs(&self) -> Vec<String> {
        names_in(&self.store().join("images/blobs/sha256"))
    }

    /// The store's layer directory names.
    pub fn layers(&self) -> Vec<String> {
        names_in(&self.store().join("layers"))
    }

    pub fn index(&self) -> Value {
        serde_json::from_str(&crate::common::read(self.store().join("images/index.json")))
            .expect("index.json is JSON")
    }
}

pub fn last_line(s: &str) -> String {
    s.lines().last().unwrap_or_default().to_owned()
}

pub fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// The busybox OCI layout (`oci:` source), read only.
pub fn busybox_layout() -> PathBuf {
    busybox_dir().join("oci")
}

/// The tar of it (`oci-archive:` source).
pub fn busybox_archive() -> PathBuf {
    busybox_dir().join("oci.tar")
}

/// The busybox rootfs the layout was made from.
pub fn busybox_rootfs() -> PathBuf {
    busybox_dir().join("rootfs")
}

/// The manifest digest the busybox layout tags `latest`.
pub fn busybox_digest() -> String {
    let index: Value =
        serde_json::from_str(&crate::common::read(busybox_layout().join("index.json")))
            .expect("test setup");
    index["manifests"][0]["digest"]
        .as_str()
        .expect("index.json names a manifest")
        .to_owned()
}

/// A private, writable copy of the busybox layout at `to`.
pub fn copy_layout(to: &Path) -> PathBuf {
    let st = Command::new("cp")
        .arg("-a")
        .arg(busybox_layout())
        .arg(to)
        .status()
        .expect("run cp");
    assert!(st.success(), "copy the busybox layout");
    to.to_path_buf()
}

/// The path of blob `digest` in layout `layout`.
pub fn blob(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").expect("a sha256 digest"))
}

/// Reads a JSON blob of a layout.
pub fn read_json_blob(layout: &Path, digest: &str) -> Value {
    serde_json::from_slice(&std::fs::read(blob(layout, digest)).expect("read blob"))
        .expect("test setup")
}

/// Writes `bytes` as a blob of `layout`; returns its digest.
pub fn write_blob(layout: &Path, bytes: &[u8]) -> String {
    let d = hoist::image::digest::Digest::of(bytes).to_string();
    std::fs::write(blob(layout, &d), bytes).expect("write blob");
    d
}

pub type Snapshot = BTreeMap<String, (u64, i64, u64)>;

/// Every file under `dir`: size, mtime (ns) and inode, by relative path; directories
/// by name only. Equal snapshots mean no file was written, replaced, added or removed
/// (a temp file made and removed again changes its directory's mtime, nothing else).
pub fn snapshot(dir: &Path) -> Snapshot {
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut |rel, m| {
        let v = if m.is_dir() {
            (0, 0, m.ino())
        } else {
            (m.len(), m.mtime() * 1_000_000_000 + m.mtime_nsec(), m.ino())
        };
        out.insert(rel.to_owned(), v);
    });
    out
}

/// Like [`snapshot`], with directory mtimes too: equal means not even a temp file was
/// made.
pub fn snapshot_strict(dir: &Path) -> Snapshot {
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut |rel, m| {
        out.insert(
            rel.to_owned(),
            (m.len(), m.mtime() * 1_000_000_000 + m.mtime_nsec(), m.ino()),
        );
    });
    out
}

/// A root filesystem as the tests compare it: per path, the type, mode, owner and
/// content (file bytes hashed, symlink targets, device numbers). Times are left out:
/// layers made by build.sh carry mtime 0.
pub fn listing(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut |rel, m| {
        let p = root.join(rel);
        let ft = m.file_type();
        let what = if ft.is_dir() {
            "dir".to_owned()
        } else if ft.is_symlink() {
            format!(
                "link {}",
                std::fs::read_link(&p).expect("test setup").display()
            )
        } else if ft.is_file() {
            let bytes = std::fs::read(&p).expect("test setup");
            format!("file {}", hoist::image::digest::Digest::of(&bytes))
        } else if ft.is_char_device() || ft.is_block_device() {
            format!("dev {:x}", m.rdev())
        } else {
            "other".to_owned()
        };
        out.insert(
            rel.to_owned(),
            format!("{what} {:o} {}:{}", m.mode() & 0o7777, m.uid(), m.gid()),
        );
    });
    out
}

fn walk(root: &Path, dir: &Path, f: &mut dyn FnMut(&str, &std::fs::Metadata)) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.map(|e| e.expect("dir entry").path()).collect();
    entries.sort();
    for p in entries {
        let m = std::fs::symlink_metadata(&p).expect("lstat");
        let rel = p
            .strip_prefix(root)
            .expect("test setup")
            .to_string_lossy()
            .into_owned();
        f(&rel, &m);
        if m.is_dir() {
            walk(root, &p, f);
        }
    }
}

/// The path of `tool`, or a failure that says which Debian package the Makefile must
/// install (tests never pass silently without their peers).
pub fn require(tool: &str, package: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin", "/sbin"] {
        let p = Path::new(dir).join(tool);
        if p.exists() {
            return p;
        }
    }
    panic!(
        "{tool} is not installed: the Makefile's deps must install the Debian package `{package}`"
    );
}

/// Runs a peer tool, failing the test unless it succeeded; returns stdout.
pub fn run_tool(tool: &Path, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("spawn tool");
    assert!(
        out.status.success(),
        "{} {args:?} failed: {}",
        tool.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A path as a &str argument.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}
