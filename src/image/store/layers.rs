//! Unpacked layers: `layers/<diff_id hex>/`, made by the layer unpacker
//! (`crate::image::unpack::unpack_layer`, which verifies the diff_id of the
//! uncompressed stream and creates the directory atomically). This file is the store's
//! one door to it.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use oci_spec::image::Descriptor;

use super::{Store, StoreError};
use crate::image::digest::{Digest, Expected};

/// The unpacker's call, as `crate::image::unpack` defines it; the rest of the store
/// goes through here and does not depend on its error type.
fn unpack_layer(
    reader: impl Read,
    media_type: &str,
    layers_dir: &Path,
    diff_id: &str,
) -> Result<PathBuf, Box<dyn std::error::Error + Send + Sync>> {
    interim::unpack_layer(reader, media_type, layers_dir, diff_id)
}

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
            let made = unpack_layer(
                std::io::BufReader::with_capacity(1 << 20, blob),
                layer.media_type().as_ref(),
                &self.layers,
                &diff_id.to_string(),
            )
            .map_err(|source| StoreError::Unpack {
                digest: exp.digest.clone(),
                diff_id: diff_id.clone(),
                source,
            })?;
            dirs.push(made);
        }
        Ok(dirs)
    }
}

/// Stands in for `crate::image::unpack::unpack_layer` until that lands (it is being
/// written beside this): same signature, same result (`<layers_dir>/<hex>/`, made
/// atomically, diff_id checked), but none of the unpacker's defences, so only for
/// trusted layers. It goes away with the swap above.
mod interim {
    use std::io::{self, Read};
    use std::path::{Path, PathBuf};

    use crate::image::digest::{Digest, HashingWriter};
    use crate::image::source::compression::Compression;

    type BoxError = Box<dyn std::error::Error + Send + Sync>;

    struct Tee<R> {
        inner: R,
        hash: HashingWriter<io::Sink>,
    }

    impl<R: Read> Read for Tee<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.inner.read(buf)?;
            io::Write::write_all(&mut self.hash, &buf[..n])?;
            Ok(n)
        }
    }

    pub fn unpack_layer(
        reader: impl Read,
        media_type: &str,
        layers_dir: &Path,
        diff_id: &str,
    ) -> Result<PathBuf, BoxError> {
        let want = Digest::parse(diff_id)?;
        let dest = layers_dir.join(want.hex());
        if dest.is_dir() {
            return Ok(dest);
        }
        let compression = Compression::of_media_type(media_type)
            .ok_or_else(|| format!("unknown layer media type `{media_type}`"))?;
        let tmp = layers_dir.join(format!(
            ".hoist-tmp-unpack-{}-{}",
            std::process::id(),
            want.hex()
        ));
        let result = (|| -> Result<(), BoxError> {
            std::fs::create_dir(&tmp)?;
            let mut tee = Tee {
                inner: compression.decoder(reader)?,
                hash: HashingWriter::new(io::sink()),
            };
            let mut archive = tar::Archive::new(&mut tee);
            archive.set_preserve_permissions(true);
            archive.set_preserve_ownerships(true);
            archive.set_unpack_xattrs(true);
            archive.unpack(&tmp)?;
            io::copy(&mut tee, &mut io::sink())?;
            let (_, got, _) = tee.hash.finish();
            if got != want {
                return Err(format!("uncompressed layer hashes to {got}, not {want}").into());
            }
            match std::fs::rename(&tmp, &dest) {
                Ok(()) => Ok(()),
                Err(_) if dest.is_dir() => Ok(()),
                Err(e) => Err(e.into()),
            }
        })();
        if tmp.exists() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        result.map(|()| dest)
    }
}
