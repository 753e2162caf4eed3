//! `oci:DIR[:TAG]` and `oci-archive:FILE[:TAG]`: an OCI image layout, in a directory or
//! in a tar of one, read as skopeo reads it. The image is the index.json entry whose
//! `org.opencontainers.image.ref.name` is TAG; without a TAG, the only entry (or, when
//! every entry names a platform, the one for the platform asked for). An entry that is
//! an index is resolved by platform.

use std::io::Read;
use std::path::Path;

use oci_spec::image::{Descriptor, ImageIndex};

use super::files::{DirTree, FileTree, TarTree};
use super::{
    pick_platform, read_error, ref_name, resolve, shown, ImageSource, NameHint, Platform,
    SourceError, SourceImage, MAX_JSON_BLOB,
};
use crate::image::digest::Expected;

/// The layout version hoist reads and writes.
pub const LAYOUT_VERSION: &str = "1.0.0";

pub struct OciLayout {
    files: Box<dyn FileTree>,
    tag: Option<String>,
    source_name: String,
}

impl OciLayout {
    pub fn open_dir(
        dir: &Path,
        tag: Option<String>,
        source_name: String,
    ) -> Result<OciLayout, SourceError> {
        let meta = std::fs::metadata(dir).map_err(read_error(dir))?;
        if !meta.is_dir() {
            return Err(SourceError::NotLayout {
                path: shown(dir),
                reason: "not a directory".into(),
            });
        }
        Self::new(Box::new(DirTree::new(dir)), tag, source_name, dir)
    }

    pub fn open_archive(
        file: &Path,
        tag: Option<String>,
        source_name: String,
    ) -> Result<OciLayout, SourceError> {
        let files = TarTree::index(file).map_err(read_error(file))?;
        Self::new(Box::new(files), tag, source_name, file)
    }

    fn new(
        files: Box<dyn FileTree>,
        tag: Option<String>,
        source_name: String,
        path: &Path,
    ) -> Result<OciLayout, SourceError> {
        #[derive(serde::Deserialize)]
        struct LayoutFile {
            #[serde(rename = "imageLayoutVersion")]
            version: String,
        }
        let not_layout = |reason: String| SourceError::NotLayout {
            path: shown(path),
            reason,
        };
        let bytes = read_small(files.as_ref(), "oci-layout")
            .map_err(|e| not_layout(format!("oci-layout: {e}")))?;
        let layout: LayoutFile =
            serde_json::from_slice(&bytes).map_err(|e| not_layout(format!("oci-layout: {e}")))?;
        if layout.version != LAYOUT_VERSION {
            return Err(not_layout(format!(
                "imageLayoutVersion {} (hoist reads {LAYOUT_VERSION})",
                layout.version
            )));
        }
        Ok(OciLayout {
            files,
            tag,
            source_name,
        })
    }

    /// The layout's index.json (also read by `trust::layout` for signature tags).
    pub(crate) fn index(&self) -> Result<ImageIndex, SourceError> {
        let bytes =
            read_small(self.files.as_ref(), "index.json").map_err(|source| SourceError::Read {
                path: "index.json".into(),
                source,
            })?;
        serde_json::from_slice(&bytes).map_err(|source| SourceError::Json {
            what: "index.json".into(),
            source,
        })
    }

    /// The index.json entry the tag (or the platform) picks.
    fn select(&self, index: &ImageIndex, platform: &Platform) -> Result<Descriptor, SourceError> {
        let entries = index.manifests();
        let tags = || {
            let t: Vec<&str> = entries.iter().filter_map(ref_name).collect();
            if t.is_empty() {
                "none".to_string()
            } else {
                t.join(", ")
            }
        };
        if let Some(tag) = &self.tag {
            return entries
                .iter()
                .find(|d| ref_name(d) == Some(tag.as_str()))
                .cloned()
                .ok_or_else(|| SourceError::NoSuchTag {
                    tag: tag.clone(),
                    tags: tags(),
                });
        }
        match entries.as_slice() {
            [] => Err(SourceError::NoImage),
            [only] => Ok(only.clone()),
            many if many.iter().all(|d| d.platform().is_some()) => {
                pick_platform("index.json", many, platform)
            }
            many => Err(SourceError::Ambiguous {
                count: many.len(),
                tags: tags(),
            }),
        }
    }
}

/// Reads a whole small file of the tree, refusing one over [`MAX_JSON_BLOB`].
fn read_small(files: &dyn FileTree, path: &str) -> std::io::Result<Vec<u8>> {
    let (r, size) = files.open(path)?;
    if size > MAX_JSON_BLOB {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{size} bytes, more than the {MAX_JSON_BLOB} hoist reads"),
        ));
    }
    let mut out = Vec::new();
    r.take(MAX_JSON_BLOB).read_to_end(&mut out)?;
    Ok(out)
}

impl ImageSource for OciLayout {
    fn describe(&self) -> String {
        self.source_name.clone()
    }

    fn manifest(&self, platform: &Platform) -> Result<SourceImage, SourceError> {
        let index = self.index()?;
        let desc = self.select(&index, platform)?;
        let name = self
            .tag
            .clone()
            .or_else(|| ref_name(&desc).map(str::to_owned))
            .map(NameHint::Layout);
        resolve(self, desc, platform, name)
    }

    fn signatures(&self) -> Option<&dyn crate::trust::SignatureStore> {
        Some(self)
    }

    fn blob(&self, blob: &Expected) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        let path = format!("blobs/sha256/{}", blob.digest.hex());
        match self.files.open(&path) {
            Ok((r, _)) => Ok(r),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(SourceError::MissingBlob {
                digest: blob.digest.clone(),
            }),
            Err(source) => Err(SourceError::Blob {
                digest: blob.digest.clone(),
                source,
            }),
        }
    }
}
