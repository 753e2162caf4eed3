//! Unpacked layers: `layers/<diff_id hex>/`, made by the layer unpacker
//! (`crate::image::unpack::unpack_layer`, which verifies the diff_id of the
//! uncompressed stream and creates the directory atomically; a directory already there
//! is returned without work). This file is the store's one door to it.
//!
//! The layers of an image are independent trees, so the missing ones are unpacked
//! side by side, one thread per layer up to the machine's CPUs (decompressing and
//! hashing are CPU-bound). The first failure is the one reported; layers that finished
//! stay (they are whole and content-addressed; gc removes them if nothing uses them).

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use oci_spec::image::Descriptor;

use super::{Store, StoreError};
use crate::image::digest::{Digest, Expected};
use crate::image::unpack;

/// The most layers unpacked at once.
const MAX_JOBS: usize = 4;

impl Store {
    /// Unpacks each layer whose directory is missing, reading blobs through `open`
    /// (a batch's staged files or the store's), and returns the layer directories in
    /// order, base first.
    pub(super) fn unpack_layers(
        &self,
        layers: &[Descriptor],
        diff_ids: &[Digest],
        open: impl Fn(&Digest) -> Result<File, StoreError> + Sync,
    ) -> Result<Vec<PathBuf>, StoreError> {
        let pairs: Vec<(&Descriptor, &Digest)> = layers.iter().zip(diff_ids).collect();
        let missing: Vec<usize> = (0..pairs.len())
            .filter(|&i| !self.layer_dir(pairs[i].1).is_dir())
            .collect();
        let jobs = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, MAX_JOBS)
            .min(missing.len());
        let results: Vec<Mutex<Option<Result<PathBuf, StoreError>>>> =
            pairs.iter().map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        let worker = || {
            while let Some(&i) = missing.get(next.fetch_add(1, Ordering::Relaxed)) {
                let (layer, diff_id) = pairs[i];
                let r = self.unpack_one(layer, diff_id, &open);
                *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
            }
        };
        if jobs > 1 {
            std::thread::scope(|s| {
                for _ in 1..jobs {
                    s.spawn(worker);
                }
                worker();
            });
        } else {
            worker();
        }
        let mut dirs = Vec::with_capacity(pairs.len());
        for (i, slot) in results.into_iter().enumerate() {
            match slot.into_inner().unwrap_or_else(|p| p.into_inner()) {
                Some(r) => dirs.push(r?),
                None => dirs.push(self.layer_dir(pairs[i].1)),
            }
        }
        Ok(dirs)
    }

    fn unpack_one(
        &self,
        layer: &Descriptor,
        diff_id: &Digest,
        open: &impl Fn(&Digest) -> Result<File, StoreError>,
    ) -> Result<PathBuf, StoreError> {
        let exp = Expected::of(layer)?;
        let blob = open(&exp.digest)?;
        unpack::unpack_layer(
            std::io::BufReader::with_capacity(1 << 20, blob),
            layer.media_type().as_ref(),
            &self.layers,
            &diff_id.to_string(),
        )
        .map_err(|source| StoreError::Unpack {
            digest: exp.digest.clone(),
            diff_id: diff_id.clone(),
            source: Box::new(source),
        })
    }
}
