//! `image export`: an image of the store written out as an `oci-archive:` (a tar of an
//! OCI layout holding just this image, tagged) or a `docker-archive:` (what `docker
//! load` reads: manifest.json, the config, uncompressed layer tars named by diff_id).
//!
//! The archive is written to a temp file beside the destination and renamed over it at
//! the end, so a failed export leaves no partial file. Entries are deterministic
//! (mode 0644, owner 0, mtime 0): the same image exports to the same bytes.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use oci_spec::image::{ImageIndexBuilder, MediaType};
use serde_json::json;

use super::images::Image;
use super::layout::create_temp;
use super::{Store, StoreError};
use crate::image::digest::{Digest, Expected, HashingWriter};
use crate::image::reference::DockerRef;
use crate::image::source::compression::Compression;
use crate::image::source::oci::LAYOUT_VERSION;
use crate::image::source::REF_NAME;

/// What to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// `oci-archive:FILE[:TAG]`: tagged TAG, or with the image's full name.
    OciArchive { tag: Option<String> },
    /// `docker-archive:FILE[:REPO:TAG]`: RepoTags from the reference, or the image's name.
    DockerArchive { name: Option<DockerRef> },
}

const BLOCK: u64 = 512;

impl Store {
    /// Writes `image` to `dest` in `format`.
    pub fn export(
        &self,
        image: &Image,
        dest: &Path,
        format: &ExportFormat,
    ) -> Result<(), StoreError> {
        let _lock = self.lock_shared()?;
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let (file, tmp) = create_temp(&dir)?;
        let tar_err = |source| StoreError::Tar {
            path: tmp.clone(),
            source,
        };
        let result = (|| {
            let mut b = tar::Builder::new(file);
            match format {
                ExportFormat::OciArchive { tag } => {
                    self.write_oci(&mut b, image, tag.as_deref(), &tmp)?
                }
                ExportFormat::DockerArchive { name } => {
                    self.write_docker(&mut b, image, name.as_ref(), &tmp)?
                }
            }
            let file = b.into_inner().map_err(tar_err)?;
            file.sync_all().map_err(tar_err)?;
            std::fs::rename(&tmp, dest).map_err(|source| StoreError::Rename {
                from: tmp.clone(),
                to: dest.into(),
                source,
            })
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    fn write_oci(
        &self,
        b: &mut tar::Builder<File>,
        image: &Image,
        tag: Option<&str>,
        tmp: &Path,
    ) -> Result<(), StoreError> {
        let tar_err = |source| StoreError::Tar {
            path: tmp.into(),
            source,
        };
        let mut desc = image.descriptor.clone();
        let mut annotations = desc.annotations().clone().unwrap_or_default();
        annotations.insert(REF_NAME.into(), tag.unwrap_or(&image.name).into());
        desc.set_annotations(Some(annotations));
        let index = ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageIndex)
            .manifests(vec![desc])
            .build()
            .map_err(|e| StoreError::Layout {
                path: tmp.into(),
                reason: e.to_string(),
            })?;
        let index = serde_json::to_vec(&index).map_err(|source| StoreError::Json {
            what: "index.json (writing)".into(),
            source,
        })?;
        let layout = format!(r#"{{"imageLayoutVersion":"{LAYOUT_VERSION}"}}"#);
        append_bytes(b, "oci-layout", layout.as_bytes()).map_err(tar_err)?;
        append_bytes(b, "index.json", &index).map_err(tar_err)?;
        append_dir(b, "blobs/").map_err(tar_err)?;
        append_dir(b, "blobs/sha256/").map_err(tar_err)?;
        let mut blobs = vec![
            Expected::of(&image.descriptor)?,
            Expected::of(image.manifest.config())?,
        ];
        for l in image.manifest.layers() {
            blobs.push(Expected::of(l)?);
        }
        let mut seen = std::collections::HashSet::new();
        for exp in blobs {
            if !seen.insert(exp.digest.clone()) {
                continue;
            }
            let f = self.open_blob(&exp.digest)?;
            let mut h = entry_header(exp.size, 0o644, tar::EntryType::Regular);
            let name = format!("blobs/sha256/{}", exp.digest.hex());
            // Checked again on the way out: an archive never carries a damaged blob.
            let r = crate::image::digest::VerifyingReader::new(f, exp);
            b.append_data(&mut h, name, r).map_err(tar_err)?;
        }
        Ok(())
    }

    fn write_docker(
        &self,
        b: &mut tar::Builder<File>,
        image: &Image,
        name: Option<&DockerRef>,
        tmp: &Path,
    ) -> Result<(), StoreError> {
        let tar_err = |source| StoreError::Tar {
            path: tmp.into(),
            source,
        };
        let config_name = format!("{}.json", image.digest_of_config()?.hex());
        append_bytes(b, &config_name, &image.config_bytes).map_err(tar_err)?;
        let mut layer_names = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (layer, diff_id) in image.manifest.layers().iter().zip(&image.config.diff_ids) {
            let exp = Expected::of(layer)?;
            let layer_name = format!("{}.tar", diff_id.hex());
            layer_names.push(layer_name.clone());
            if !seen.insert(diff_id.clone()) {
                continue;
            }
            let media_type = layer.media_type().to_string();
            let compression = Compression::of_media_type(&media_type).ok_or_else(|| {
                StoreError::LayerMediaType {
                    digest: exp.digest.clone(),
                    media_type,
                }
            })?;
            let blob = self.open_blob(&exp.digest)?;
            let verified = crate::image::digest::VerifyingReader::new(blob, exp.clone());
            let decoded = compression.decoder(verified).map_err(tar_err)?;
            let got = append_stream(b.get_mut(), &layer_name, decoded).map_err(|e| {
                match crate::image::digest::DigestError::from_io(&e) {
                    Some(d) => StoreError::Verify(d.clone()),
                    None => tar_err(e),
                }
            })?;
            if got != *diff_id {
                return Err(StoreError::DiffId {
                    digest: exp.digest,
                    diff_id: diff_id.clone(),
                    actual: got,
                });
            }
        }
        let repo_tags: Vec<String> = match name {
            Some(n) => vec![n.to_string()],
            None => DockerRef::parse(&image.name)
                .ok()
                .filter(|r| r.tag().is_some())
                .map(|r| r.to_string())
                .into_iter()
                .collect(),
        };
        let manifest = json!([{
            "Config": config_name,
            "RepoTags": repo_tags,
            "Layers": layer_names,
        }]);
        let bytes = serde_json::to_vec(&manifest).map_err(|source| StoreError::Json {
            what: "manifest.json (writing)".into(),
            source,
        })?;
        append_bytes(b, "manifest.json", &bytes).map_err(tar_err)
    }
}

impl Image {
    fn digest_of_config(&self) -> Result<Digest, StoreError> {
        Ok(Expected::of(self.manifest.config())?.digest)
    }
}

fn entry_header(size: u64, mode: u32, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_entry_type(kind);
    h
}

fn append_bytes(b: &mut tar::Builder<File>, name: &str, data: &[u8]) -> io::Result<()> {
    let mut h = entry_header(data.len() as u64, 0o644, tar::EntryType::Regular);
    b.append_data(&mut h, name, data)
}

fn append_dir(b: &mut tar::Builder<File>, name: &str) -> io::Result<()> {
    let mut h = entry_header(0, 0o755, tar::EntryType::Directory);
    b.append_data(&mut h, name, io::empty())
}

/// Appends a regular file whose size is known only at its end: a placeholder header,
/// the data (hashed on the way), padding, then the real header written over the
/// placeholder. Returns the data's digest.
fn append_stream(f: &mut File, name: &str, mut data: impl Read) -> io::Result<Digest> {
    let start = f.stream_position()?;
    f.write_all(&[0u8; 512])?;
    let mut w = HashingWriter::new(io::BufWriter::with_capacity(1 << 20, &mut *f));
    io::copy(&mut data, &mut w)?;
    let (buffered, digest, size) = w.finish();
    buffered
        .into_inner()
        .map_err(io::IntoInnerError::into_error)?;
    let pad = (BLOCK - size % BLOCK) % BLOCK;
    f.write_all(&vec![0u8; usize::try_from(pad).unwrap_or(0)])?;
    let end = f.stream_position()?;
    let mut h = entry_header(size, 0o644, tar::EntryType::Regular);
    h.set_path(name)?;
    h.set_cksum();
    f.seek(SeekFrom::Start(start))?;
    f.write_all(h.as_bytes())?;
    f.seek(SeekFrom::Start(end))?;
    Ok(digest)
}
