//! Blobs going into the store. A [`Batch`] stages each new blob in a temp file in
//! `blobs/sha256/`, hashing and counting as it streams ([`VerifyingReader`]), and renames
//! them all into place in [`Batch::commit`], once everything the operation needs has
//! checked out. A batch dropped uncommitted removes its temp files: a refused blob, or
//! a later one, leaves the layout exactly as it was (DESIGN.md rule 4).
//!
//! A blob already in the store at its size is not copied again: it was verified when
//! it came in, and it is only ever replaced by a rename of identical content.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use super::layout::{create_temp, sync_dir};
use super::{Store, StoreError};
use crate::image::digest::{Digest, DigestError, Expected, VerifyingReader};

const COPY_BUFFER: usize = 1 << 20;

struct Staged {
    tmp: PathBuf,
    /// None while hoist is still writing a blob of its own making.
    digest: Option<Digest>,
}

/// New blobs of one operation, renamed in together.
pub struct Batch<'s> {
    store: &'s Store,
    staged: Vec<Staged>,
    /// Bytes copied into temp files so far.
    pub copied_bytes: u64,
}

/// A blob hoist is writing itself (an import's layer): its place in the batch, handed
/// back to [`Batch::finish_created`] with the file and the digest.
pub struct Slot(usize);

impl Store {
    /// Starts a batch of new blobs.
    pub fn batch(&self) -> Batch<'_> {
        Batch {
            store: self,
            staged: Vec::new(),
            copied_bytes: 0,
        }
    }

    /// Whether blob `exp` is in the store at its size.
    pub fn has_blob(&self, exp: &Expected) -> bool {
        std::fs::metadata(self.blob_path(&exp.digest))
            .is_ok_and(|m| m.is_file() && m.len() == exp.size)
    }

    /// Opens a blob of the store.
    pub fn open_blob(&self, d: &Digest) -> Result<File, StoreError> {
        File::open(self.blob_path(d)).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::MissingBlob { digest: d.clone() },
            _ => StoreError::Open {
                path: self.blob_path(d),
                source: e,
            },
        })
    }

    /// Reads a small blob (a manifest, a config) whole, verified again on the way.
    pub fn read_blob(&self, exp: &Expected, what: &str, limit: u64) -> Result<Vec<u8>, StoreError> {
        read_verified(self.open_blob(&exp.digest)?, exp, what, limit)
    }
}

fn read_verified(f: File, exp: &Expected, what: &str, limit: u64) -> Result<Vec<u8>, StoreError> {
    if exp.size > limit {
        return Err(StoreError::TooLarge {
            what: what.into(),
            size: exp.size,
            limit,
        });
    }
    let mut out = Vec::new();
    VerifyingReader::new(f, exp.clone())
        .read_to_end(&mut out)
        .map_err(|e| read_failure(&exp.digest, e))?;
    Ok(out)
}

/// A failed verified read: the digest error itself when it was one.
fn read_failure(digest: &Digest, e: io::Error) -> StoreError {
    match DigestError::from_io(&e) {
        Some(d) => StoreError::Verify(d.clone()),
        None => StoreError::CopyBlob {
            digest: digest.clone(),
            source: e,
        },
    }
}

impl Batch<'_> {
    /// Whether blob `exp` is in the store or staged in this batch.
    pub fn has(&self, exp: &Expected) -> bool {
        self.staged
            .iter()
            .any(|s| s.digest.as_ref() == Some(&exp.digest))
            || self.store.has_blob(exp)
    }

    /// Stages blob `exp` from the reader `open` gives, unless the store has it.
    /// Returns whether it was copied.
    pub fn stage<R: Read>(
        &mut self,
        exp: &Expected,
        open: impl FnOnce() -> Result<R, StoreError>,
    ) -> Result<bool, StoreError> {
        if self.has(exp) {
            return Ok(false);
        }
        let reader = open()?;
        let (mut file, tmp) = create_temp(&self.store.blobs_dir())?;
        // Registered first, so that a failure below still removes the temp file.
        self.staged.push(Staged {
            tmp: tmp.clone(),
            digest: None,
        });
        let slot = self.staged.len() - 1;
        copy_verified(reader, exp, &mut file, &tmp)?;
        self.staged[slot].digest = Some(exp.digest.clone());
        self.copied_bytes += exp.size;
        Ok(true)
    }

    /// Stages a blob held in memory (a manifest), checked against `exp` all the same.
    pub fn stage_bytes(&mut self, exp: &Expected, bytes: &[u8]) -> Result<bool, StoreError> {
        self.stage(exp, || Ok(bytes))
    }

    /// A temp file for a blob hoist makes itself.
    pub fn create(&mut self) -> Result<(File, Slot), StoreError> {
        let (file, tmp) = create_temp(&self.store.blobs_dir())?;
        self.staged.push(Staged { tmp, digest: None });
        Ok((file, Slot(self.staged.len() - 1)))
    }

    /// Where the temp file of `slot` is.
    pub(super) fn temp_path(&self, slot: &Slot) -> &std::path::Path {
        &self.staged[slot.0].tmp
    }

    /// Records the digest of a blob made with [`Batch::create`], flushed to disk.
    pub fn finish_created(
        &mut self,
        slot: Slot,
        file: File,
        digest: Digest,
        size: u64,
    ) -> Result<(), StoreError> {
        let staged = &mut self.staged[slot.0];
        file.sync_data().map_err(|source| StoreError::Write {
            path: staged.tmp.clone(),
            source,
        })?;
        staged.digest = Some(digest);
        self.copied_bytes += size;
        Ok(())
    }

    /// Opens a blob, staged or in the store.
    pub fn open(&self, d: &Digest) -> Result<File, StoreError> {
        match self.staged.iter().find(|s| s.digest.as_ref() == Some(d)) {
            Some(s) => File::open(&s.tmp).map_err(|source| StoreError::Open {
                path: s.tmp.clone(),
                source,
            }),
            None => self.store.open_blob(d),
        }
    }

    /// Reads a small blob, staged or in the store, verified.
    pub fn read(&self, exp: &Expected, what: &str, limit: u64) -> Result<Vec<u8>, StoreError> {
        read_verified(self.open(&exp.digest)?, exp, what, limit)
    }

    /// Renames every staged blob into place. Returns how many there were.
    pub fn commit(mut self) -> Result<usize, StoreError> {
        let staged = std::mem::take(&mut self.staged);
        let count = staged.len();
        let mut result = Ok(());
        let mut rest = staged.into_iter();
        for s in rest.by_ref() {
            let Some(d) = &s.digest else {
                let _ = std::fs::remove_file(&s.tmp);
                continue;
            };
            let to = self.store.blob_path(d);
            if let Err(source) = std::fs::rename(&s.tmp, &to) {
                let _ = std::fs::remove_file(&s.tmp);
                result = Err(StoreError::Rename {
                    from: s.tmp,
                    to,
                    source,
                });
                break;
            }
        }
        for s in rest {
            let _ = std::fs::remove_file(&s.tmp);
        }
        result?;
        if count > 0 {
            sync_dir(&self.store.blobs_dir())?;
        }
        Ok(count)
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        for s in &self.staged {
            let _ = std::fs::remove_file(&s.tmp);
        }
    }
}

/// Streams `reader` into `file` through a [`VerifyingReader`], then flushes the data
/// to disk (the rename that follows must not outlive a crash the data did not).
pub(super) fn copy_verified(
    reader: impl Read,
    exp: &Expected,
    file: &mut File,
    tmp: &std::path::Path,
) -> Result<(), StoreError> {
    let mut r = VerifyingReader::new(reader, exp.clone());
    let mut buf = vec![0u8; COPY_BUFFER];
    let write_err = |source| StoreError::Write {
        path: tmp.into(),
        source,
    };
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_failure(&exp.digest, e)),
        };
        file.write_all(&buf[..n]).map_err(write_err)?;
    }
    file.sync_data().map_err(write_err)
}
