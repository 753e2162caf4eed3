//! Unpacked layers: `layers/<diff_id hex>/`, made by the layer unpacker
//! (`crate::image::unpack::unpack_layer`, which verifies the diff_id of the
//! uncompressed stream and creates the directory atomically; a directory already there
//! is returned without work). This file is the store's one door to it.

use std::fs::File;
use std::path::PathBuf;

use oci_spec::image::Descriptor;

use super::{Store, StoreError};
use crate::image::digest::{Digest, Expected};
use crate::image::unpack;

impl Store {
    /// Unpacks each layer whose directory is missing, reading blobs through `open`
    /// (a batch's staged files or the store's), and returns the layer directories in
    /// order, base first.
    pub(super) fn unpack_layers(
        &self,
        layers: &[Descriptor],
        diff_ids: &[Digest],
        open: impl Fn(&Digest) -> Result<File, StoreError>,
    ) -> Result<Vec<PathBuf>, StoreError> {
        let mut dirs = Vec::with_capacity(layers.len());
        for (layer, diff_id) in layers.iter().zip(diff_ids) {
            let exp = Expected::of(layer)?;
            let dir = self.layer_dir(diff_id);
            if dir.is_dir() {
                dirs.push(dir);
                continue;
            }
            let blob = open(&exp.digest)?;
            let made = unpack::unpack_layer(
                std::io::BufReader::with_capacity(1 << 20, blob),
                layer.media_type().as_ref(),
                &self.layers,
                &diff_id.to_string(),
            )
            .map_err(|source| StoreError::Unpack {
                digest: exp.digest.clone(),
                diff_id: diff_id.clone(),
                source: Box::new(source),
            })?;
            dirs.push(made);
        }
        Ok(dirs)
    }
}
