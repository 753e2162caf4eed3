//! `image import DIR|TARBALL NAME`: a root filesystem made into a one-layer image, as
//! `docker import` does. A directory is archived (sorted, symlinks kept as symlinks and
//! never followed, hard links as links, device nodes and fifos as such, sockets
//! skipped; xattrs are not carried); a tarball (plain, gzip or zstd) is taken as the
//! layer's content. Either way the layer is stored gzip-compressed, its diff_id and
//! digest learnt in the same pass, then unpacked and tagged like a fetched image.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use flate2::write::GzEncoder;
use oci_spec::image::{Descriptor, ImageManifestBuilder, MediaType};
use serde_json::json;

use super::fetch::Fetched;
use super::{Store, StoreError};
use crate::image::digest::{Digest, Expected, HashingWriter};
use crate::image::reference;
use crate::image::source::compression::Compression;
use crate::image::source::Platform;

impl Store {
    /// Imports `from` (a directory or a tarball) as image `name`.
    pub fn import(&self, from: &Path, name: &str) -> Result<Fetched, StoreError> {
        let name = reference::local_name(name)?;
        let meta = std::fs::metadata(from).map_err(|source| StoreError::Open {
            path: from.into(),
            source,
        })?;
        let _lock = self.lock_shared()?;
        let mut batch = self.batch();
        let (file, slot) = batch.create()?;
        let tar_err = |source| StoreError::Tar {
            path: from.into(),
            source,
        };

        let blob = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
        let gz = GzEncoder::new(blob, flate2::Compression::default());
        let mut diff = HashingWriter::new(gz);
        if meta.is_dir() {
            let mut b = tar::Builder::new(&mut diff);
            archive_dir(&mut b, from, Path::new(""), &mut HashMap::new()).map_err(tar_err)?;
            b.finish().map_err(tar_err)?;
        } else {
            copy_tarball(from, &mut diff).map_err(tar_err)?;
        }
        let (gz, diff_id, _) = diff.finish();
        let (buffered, digest, size) = gz.finish().map_err(tar_err)?.finish();
        let file = buffered.into_inner().map_err(|e| tar_err(e.into_error()))?;
        batch.finish_created(slot, file, digest.clone(), size)?;

        let layer = Descriptor::new(
            MediaType::from(Compression::Gzip.oci_layer_media_type()),
            size,
            &digest,
        );
        let host = Platform::host();
        let now = crate::time::now_rfc3339();
        let config = json!({
            "created": now,
            "architecture": host.arch,
            "os": host.os,
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
            "history": [{"created": now, "created_by": format!("hoist image import {}", from.display())}],
        });
        let config = to_json(&config, "config")?;
        let config_exp = Expected {
            digest: Digest::of(&config),
            size: config.len() as u64,
        };
        batch.stage_bytes(&config_exp, &config)?;
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(Descriptor::new(
                MediaType::ImageConfig,
                config_exp.size,
                &config_exp.digest,
            ))
            .layers(vec![layer.clone()])
            .build()
            .map_err(|e| StoreError::Layout {
                path: from.into(),
                reason: format!("build manifest: {e}"),
            })?;
        let manifest = to_json(&manifest, "manifest")?;
        let manifest_exp = Expected {
            digest: Digest::of(&manifest),
            size: manifest.len() as u64,
        };
        batch.stage_bytes(&manifest_exp, &manifest)?;

        self.unpack_layers(&[layer], &[diff_id], |d| batch.open(d))?;
        let copied_bytes = batch.copied_bytes;
        let copied = batch.commit()?;
        let mut desc = Descriptor::new(
            MediaType::ImageManifest,
            manifest_exp.size,
            &manifest_exp.digest,
        );
        let mut platform = oci_spec::image::Platform::default();
        platform.set_os(host.os.as_str().into());
        platform.set_architecture(host.arch.as_str().into());
        desc.set_platform(Some(platform));
        self.tag(&name, &desc)?;
        Ok(Fetched {
            name,
            digest: manifest_exp.digest,
            copied,
            copied_bytes,
            present: 0,
        })
    }
}

fn to_json(v: &impl serde::Serialize, what: &str) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|source| StoreError::Json {
        what: format!("{what} (writing)"),
        source,
    })
}

/// A tarball's content, decompressed if it is gzip or zstd.
fn copy_tarball(path: &Path, out: &mut impl Write) -> io::Result<()> {
    let mut f = File::open(path)?;
    let mut head = [0u8; 4];
    let mut got = 0;
    while got < head.len() {
        match f.read(&mut head[got..])? {
            0 => break,
            n => got += n,
        }
    }
    let compression = Compression::sniff(&head[..got]);
    let whole = io::Cursor::new(head[..got].to_vec()).chain(f);
    let mut r = compression.decoder(whole)?;
    io::copy(&mut r, out)?;
    Ok(())
}

/// Appends `root/rel`'s entries, sorted, depth first. `links` maps (dev, ino) of
/// multiply-linked files to their first name, so later names become hard links.
fn archive_dir<W: Write>(
    b: &mut tar::Builder<W>,
    root: &Path,
    rel: &Path,
    links: &mut HashMap<(u64, u64), std::path::PathBuf>,
) -> io::Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(root.join(rel))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    names.sort();
    for n in names {
        let rel = rel.join(&n);
        let full = root.join(&rel);
        let m = std::fs::symlink_metadata(&full)?;
        let ft = m.file_type();
        let mut h = tar::Header::new_gnu();
        h.set_metadata(&m);
        if ft.is_file() {
            if m.nlink() > 1 {
                if let Some(first) = links.get(&(m.dev(), m.ino())) {
                    h.set_entry_type(tar::EntryType::Link);
                    h.set_size(0);
                    b.append_link(&mut h, &rel, first)?;
                    continue;
                }
                links.insert((m.dev(), m.ino()), rel.clone());
            }
            let f = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&full)?;
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, &rel, f)?;
        } else if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            b.append_data(&mut h, &rel, io::empty())?;
            archive_dir(b, root, &rel, links)?;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&full)?;
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, &rel, target)?;
        } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
            h.set_entry_type(if ft.is_char_device() {
                tar::EntryType::Char
            } else if ft.is_block_device() {
                tar::EntryType::Block
            } else {
                tar::EntryType::Fifo
            });
            h.set_size(0);
            let (major, minor) = dev_numbers(m.rdev());
            h.set_device_major(major)?;
            h.set_device_minor(minor)?;
            b.append_data(&mut h, &rel, io::empty())?;
        }
        // Sockets are skipped: a tar cannot carry them.
    }
    Ok(())
}

/// glibc's `major()`/`minor()` of a `dev_t`.
fn dev_numbers(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & 0xffff_f000);
    let minor = (dev & 0xff) | ((dev >> 12) & 0xffff_ff00);
    (
        u32::try_from(major).unwrap_or(u32::MAX),
        u32::try_from(minor).unwrap_or(u32::MAX),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_numbers() {
        // /dev/null is 1:3, /dev/sda1 8:1; big numbers split across the halves.
        assert_eq!(dev_numbers(0x103), (1, 3));
        assert_eq!(dev_numbers(0x801), (8, 1));
        let makedev = |ma: u64, mi: u64| {
            ((ma & 0xffff_f000) << 32)
                | ((ma & 0xfff) << 8)
                | ((mi & 0xffff_ff00) << 12)
                | (mi & 0xff)
        };
        assert_eq!(dev_numbers(makedev(0x12345, 0x6789a)), (0x12345, 0x6789a));
    }
}
