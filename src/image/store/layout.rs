//! The layout's two small files: `oci-layout` (written once) and `index.json` (read
//! freely; rewritten only under the index lock, by temp file and rename), and the temp
//! file names every writer of the store uses.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use oci_spec::image::{ImageIndex, ImageIndexBuilder, MediaType};

use super::{Store, StoreError};
use crate::image::source::oci::LAYOUT_VERSION;

/// Temp files start with this; gc removes the ones a killed hoist left.
pub(super) const TEMP_PREFIX: &str = ".hoist-tmp-";

impl Store {
    pub(super) fn init(&self) -> Result<(), StoreError> {
        for d in [&self.blobs_dir(), &self.layers, &self.locks] {
            std::fs::create_dir_all(d).map_err(|source| StoreError::Create {
                path: d.clone(),
                source,
            })?;
        }
        let layout = self.images.join("oci-layout");
        let index = self.index_path();
        if layout.exists() && index.exists() {
            return self.check_layout(&layout);
        }
        let _lock = self.lock_index()?;
        if !layout.exists() {
            let text = format!(r#"{{"imageLayoutVersion":"{LAYOUT_VERSION}"}}"#);
            write_atomic(&self.images, "oci-layout", text.as_bytes())?;
        }
        if !index.exists() {
            self.write_index(&empty_index()?)?;
        }
        Ok(())
    }

    fn check_layout(&self, path: &Path) -> Result<(), StoreError> {
        #[derive(serde::Deserialize)]
        struct LayoutFile {
            #[serde(rename = "imageLayoutVersion")]
            version: String,
        }
        let bytes = std::fs::read(path).map_err(|source| StoreError::Read {
            path: path.into(),
            source,
        })?;
        let l: LayoutFile = serde_json::from_slice(&bytes).map_err(|source| StoreError::Json {
            what: format!("`{}`", path.display()),
            source,
        })?;
        if l.version != LAYOUT_VERSION {
            return Err(StoreError::Layout {
                path: self.images.clone(),
                reason: format!("imageLayoutVersion {}", l.version),
            });
        }
        Ok(())
    }

    fn index_path(&self) -> PathBuf {
        self.images.join("index.json")
    }

    /// The layout's index as it is now (a consistent snapshot: it is only ever
    /// replaced whole).
    pub fn read_index(&self) -> Result<ImageIndex, StoreError> {
        let path = self.index_path();
        let bytes = std::fs::read(&path).map_err(|source| StoreError::Read {
            path: path.clone(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::Json {
            what: format!("`{}`", path.display()),
            source,
        })
    }

    fn write_index(&self, index: &ImageIndex) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(index).map_err(|source| StoreError::Json {
            what: "index.json (writing)".into(),
            source,
        })?;
        write_atomic(&self.images, "index.json", &bytes)
    }

    /// Runs `f` on index.json under the index lock and writes the result back if `f`
    /// changed it.
    pub(super) fn update_index<T>(
        &self,
        f: impl FnOnce(&mut ImageIndex) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let _lock = self.lock_index()?;
        let mut index = self.read_index()?;
        let before = index.clone();
        let out = f(&mut index)?;
        if index != before {
            self.write_index(&index)?;
        }
        Ok(out)
    }
}

fn empty_index() -> Result<ImageIndex, StoreError> {
    ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(Vec::new())
        .build()
        .map_err(|e| StoreError::Layout {
            path: PathBuf::from("index.json"),
            reason: e.to_string(),
        })
}

/// A new, empty temp file in `dir` (created exclusively, so two writers never share
/// one), with its path.
pub(super) fn create_temp(dir: &Path) -> Result<(File, PathBuf), StoreError> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = dir.join(format!(
            "{TEMP_PREFIX}{}-{n}-{nanos:08x}",
            std::process::id()
        ));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(f) => return Ok((f, path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(source) => return Err(StoreError::Create { path, source }),
        }
    }
}

/// Makes renames in `dir` durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| StoreError::Write {
            path: dir.into(),
            source,
        })
}

/// Replaces `dir/name` with `bytes`: temp file, fsync, rename, fsync of the directory.
pub(super) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let (mut f, tmp) = create_temp(dir)?;
    let dest = dir.join(name);
    let res = f
        .write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|source| StoreError::Write {
            path: tmp.clone(),
            source,
        })
        .and_then(|()| {
            std::fs::rename(&tmp, &dest).map_err(|source| StoreError::Rename {
                from: tmp.clone(),
                to: dest.clone(),
                source,
            })
        });
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res?;
    sync_dir(dir)
}
