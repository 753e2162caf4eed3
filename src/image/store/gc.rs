//! Garbage collection: under the exclusive store lock (no fetch, import, render or
//! export is running), index entries without a tag are dropped, every blob no tagged
//! manifest or index reaches is deleted, so is every `layers/<diff_id>` no tagged image
//! uses, and temp files killed processes left behind.

use std::collections::HashSet;
use std::path::Path;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use super::layout::TEMP_PREFIX;
use super::{Store, StoreError};
use crate::image::digest::{Digest, Expected};
use crate::image::source::config::ConfigSummary;
use crate::image::source::{kind, ref_name, Kind, MAX_JSON_BLOB};

/// How deep indexes are followed.
const MAX_DEPTH: usize = 8;

/// What gc removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    pub blobs: usize,
    pub bytes: u64,
    pub layers: usize,
    pub temp_files: usize,
    pub untagged: usize,
}

#[derive(Default)]
struct Live {
    blobs: HashSet<Digest>,
    layers: HashSet<Digest>,
}

impl Store {
    pub fn gc(&self) -> Result<GcReport, StoreError> {
        self.gc_keeping(&[])
    }

    /// gc that also keeps the images whose manifests `keep` names, tagged or not (the
    /// images of pods that are prepared or running: their layers are overlay lower
    /// dirs, or will be).
    pub fn gc_keeping(&self, keep: &[Digest]) -> Result<GcReport, StoreError> {
        let _store = self.lock_exclusive()?;
        let mut report = GcReport::default();
        let index = self.update_index(|index| {
            let before = index.manifests().len();
            let mut kept = index.manifests().clone();
            kept.retain(|d| ref_name(d).is_some());
            index.set_manifests(kept);
            report.untagged = before - index.manifests().len();
            Ok(index.clone())
        })?;
        let mut roots: Vec<Descriptor> = index.manifests().clone();
        for d in keep {
            let size = std::fs::metadata(self.blob_path(d)).map_or(0, |m| m.len());
            roots.push(Descriptor::new(
                oci_spec::image::MediaType::ImageManifest,
                size,
                d,
            ));
        }
        let live = self.mark(roots)?;
        self.sweep_blobs(&live, &mut report)?;
        self.sweep_layers(&live, &mut report)?;
        report.temp_files += remove_temps(self.images_dir())?;
        Ok(report)
    }

    fn mark(&self, roots: Vec<Descriptor>) -> Result<Live, StoreError> {
        let mut live = Live::default();
        let mut todo: Vec<(Descriptor, usize)> = roots.into_iter().map(|d| (d, 0)).collect();
        while let Some((desc, depth)) = todo.pop() {
            let Ok(exp) = Expected::of(&desc) else {
                continue; // not a sha256 blob: nothing of ours
            };
            if !live.blobs.insert(exp.digest.clone()) || depth > MAX_DEPTH {
                continue;
            }
            if !self.has_blob(&exp) {
                continue; // gone already; nothing under it to keep
            }
            let what = format!("manifest {}", exp.digest);
            if kind(&what, desc.media_type().as_ref()).is_err() {
                continue;
            }
            let bytes = self.read_blob(&exp, &what, MAX_JSON_BLOB)?;
            // A reachable document hoist cannot read stops gc: deleting what it may
            // reference would be guessing.
            let json_err = |source| StoreError::Json {
                what: what.clone(),
                source,
            };
            match kind(&what, desc.media_type().as_ref()) {
                Ok(Kind::Index) => {
                    let i: ImageIndex = serde_json::from_slice(&bytes).map_err(json_err)?;
                    todo.extend(i.manifests().iter().map(|d| (d.clone(), depth + 1)));
                }
                Ok(Kind::Manifest) => {
                    let m: ImageManifest = serde_json::from_slice(&bytes).map_err(json_err)?;
                    self.mark_manifest(&m, &mut live)?;
                }
                // Something else (an artifact): the blob is kept, nothing under it
                // is known.
                Err(_) => {}
            }
        }
        Ok(live)
    }

    fn mark_manifest(&self, m: &ImageManifest, live: &mut Live) -> Result<(), StoreError> {
        for l in m.layers() {
            if let Ok(e) = Expected::of(l) {
                live.blobs.insert(e.digest);
            }
        }
        let Ok(c) = Expected::of(m.config()) else {
            return Ok(());
        };
        live.blobs.insert(c.digest.clone());
        if self.has_blob(&c) {
            let what = format!("config {}", c.digest);
            let bytes = self.read_blob(&c, &what, MAX_JSON_BLOB)?;
            live.layers
                .extend(ConfigSummary::parse(&bytes, &what)?.diff_ids);
        }
        Ok(())
    }

    fn sweep_blobs(&self, live: &Live, report: &mut GcReport) -> Result<(), StoreError> {
        for (name, path) in entries(&self.blobs_dir())? {
            if name.starts_with(TEMP_PREFIX) {
                remove_file(&path)?;
                report.temp_files += 1;
                continue;
            }
            let Ok(d) = Digest::from_hex(&name) else {
                continue; // not a blob name: not ours to judge
            };
            if !live.blobs.contains(&d) {
                let size = std::fs::symlink_metadata(&path).map_or(0, |m| m.len());
                remove_file(&path)?;
                report.blobs += 1;
                report.bytes += size;
            }
        }
        Ok(())
    }

    fn sweep_layers(&self, live: &Live, report: &mut GcReport) -> Result<(), StoreError> {
        for (name, path) in entries(&self.layers)? {
            let dead = match Digest::from_hex(&name) {
                Ok(d) => !live.layers.contains(&d),
                // An unpack a killed process left half done (the unpacker works in
                // dot-named directories beside the final ones).
                Err(_) => name.starts_with('.'),
            };
            if !dead {
                continue;
            }
            // remove_dir_all does not follow symlinks (it works through fds), so a
            // layer's own symlinks cannot take it outside the layer.
            std::fs::remove_dir_all(&path)
                .or_else(|e| match e.kind() {
                    std::io::ErrorKind::NotADirectory => std::fs::remove_file(&path),
                    _ => Err(e),
                })
                .map_err(|source| StoreError::Remove {
                    path: path.clone(),
                    source,
                })?;
            if name.starts_with('.') {
                report.temp_files += 1;
            } else {
                report.layers += 1;
            }
        }
        Ok(())
    }
}

fn entries(dir: &Path) -> Result<Vec<(String, std::path::PathBuf)>, StoreError> {
    let rd = std::fs::read_dir(dir).map_err(|source| StoreError::Read {
        path: dir.into(),
        source,
    })?;
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(|source| StoreError::Read {
            path: dir.into(),
            source,
        })?;
        out.push((e.file_name().to_string_lossy().into_owned(), e.path()));
    }
    Ok(out)
}

fn remove_file(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StoreError::Remove {
            path: path.into(),
            source,
        }),
    }
}

/// Removes stray temp files (an index.json write a killed process left) in `dir`.
fn remove_temps(dir: &Path) -> Result<usize, StoreError> {
    let mut n = 0;
    for (name, path) in entries(dir)? {
        if name.starts_with(TEMP_PREFIX) {
            remove_file(&path)?;
            n += 1;
        }
    }
    Ok(n)
}
