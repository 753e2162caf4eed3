//! Staging several blobs at once (a fetch's layers), each on its own thread reading its
//! own stream from the source, at most `jobs` at a time. Each blob lands in its own temp
//! file of the batch, verified as it streams exactly as [`Batch::stage`] does; the first
//! failure stops the other downloads, and since the temp files belong to the batch, a
//! failed fetch leaves nothing behind (DESIGN.md rule 4).

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use super::blobs::{copy_verified, Slot};
use super::progress::{BlobProgress, Progress};
use super::{Batch, StoreError};
use crate::image::digest::Expected;

/// How many blobs a fetch pulls at once (containers/image pulls 6; the machines hoist
/// is tuned on have 2 cores, and a registry on loopback is CPU-bound on hashing).
pub const DEFAULT_JOBS: usize = 4;

struct Work {
    exp: Expected,
    tmp: PathBuf,
    slot: Slot,
    file: Mutex<Option<File>>,
}

impl Batch<'_> {
    /// Stages every blob of `exps` that the store and the batch lack, `jobs` at a
    /// time, each from the reader `open` gives. Returns how many were copied.
    pub fn stage_parallel<R: Read>(
        &mut self,
        exps: &[Expected],
        jobs: usize,
        open: impl Fn(&Expected) -> Result<R, StoreError> + Sync,
        progress: &dyn Progress,
    ) -> Result<usize, StoreError> {
        let mut work: Vec<Work> = Vec::new();
        for exp in exps {
            if self.has(exp) || work.iter().any(|w| w.exp.digest == exp.digest) {
                continue;
            }
            let (file, slot) = self.create()?;
            work.push(Work {
                exp: exp.clone(),
                tmp: self.temp_path(&slot).to_path_buf(),
                slot,
                file: Mutex::new(Some(file)),
            });
        }
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let first_error: Mutex<Option<StoreError>> = Mutex::new(None);
        let worker = || loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(w) = work.get(i) else { break };
            if failed.load(Ordering::Relaxed) {
                break;
            }
            if let Err(e) = copy_one(w, &open, &failed, progress) {
                let mut first = first_error.lock().unwrap_or_else(|p| p.into_inner());
                // Downloads stopped because of the first failure are not news.
                if first.is_none() {
                    *first = Some(e);
                }
                failed.store(true, Ordering::Relaxed);
            }
        };
        std::thread::scope(|s| {
            for _ in 1..jobs.clamp(1, work.len().max(1)) {
                s.spawn(worker);
            }
            worker();
        });
        if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(e);
        }
        let count = work.len();
        for w in work {
            let file = w
                .file
                .into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .ok_or_else(|| StoreError::Write {
                    path: w.tmp.clone(),
                    source: io::Error::other("blob copy did not finish"),
                })?;
            self.finish_created(w.slot, file, w.exp.digest, w.exp.size)?;
        }
        Ok(count)
    }
}

fn copy_one<R: Read>(
    w: &Work,
    open: &(impl Fn(&Expected) -> Result<R, StoreError> + Sync),
    failed: &AtomicBool,
    progress: &dyn Progress,
) -> Result<(), StoreError> {
    let mut file = w
        .file
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .ok_or_else(|| StoreError::Write {
            path: w.tmp.clone(),
            source: io::Error::other("blob staged twice"),
        })?;
    let reader = open(&w.exp)?;
    let bar = progress.blob(&w.exp);
    let reader = Watched {
        inner: reader,
        failed,
        bar: bar.as_ref(),
    };
    copy_verified(reader, &w.exp, &mut file, &w.tmp)?;
    *w.file.lock().unwrap_or_else(|p| p.into_inner()) = Some(file);
    Ok(())
}

/// Reports progress, and stops when another download failed.
struct Watched<'a, R> {
    inner: R,
    failed: &'a AtomicBool,
    bar: &'a dyn BlobProgress,
}

impl<R: Read> Read for Watched<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed.load(Ordering::Relaxed) {
            return Err(io::Error::other("stopped: another blob failed"));
        }
        let n = self.inner.read(buf)?;
        self.bar.advance(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::digest::{Digest, DigestError};
    use crate::image::store::progress::NoProgress;
    use crate::image::store::Store;

    fn blob(i: u8, len: usize) -> (Vec<u8>, Expected) {
        let bytes = vec![i; len];
        let exp = Expected {
            digest: Digest::of(&bytes),
            size: len as u64,
        };
        (bytes, exp)
    }

    fn blob_files(store: &Store) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(store.images_dir().join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn stages_all_or_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let blobs: Vec<_> = (1..=6).map(|i| blob(i, 100_000 * usize::from(i))).collect();
        let exps: Vec<Expected> = blobs.iter().map(|(_, e)| e.clone()).collect();
        let source = |exp: &Expected| {
            let (bytes, _) = blobs.iter().find(|(_, e)| e == exp).unwrap();
            // Blob 4 is corrupt on its way in.
            let mut b = bytes.clone();
            if b[0] == 4 {
                b[10] ^= 1;
            }
            Ok::<_, StoreError>(std::io::Cursor::new(b))
        };

        let mut batch = store.batch();
        let e = batch
            .stage_parallel(&exps, 3, source, &NoProgress)
            .unwrap_err();
        assert!(
            matches!(&e, StoreError::Verify(DigestError::Mismatch { digest, .. }) if *digest == exps[3].digest),
            "{e}"
        );
        drop(batch);
        assert!(blob_files(&store).is_empty(), "temp files removed");

        // Without the corrupt blob (and with a duplicate), all are staged and renamed in.
        let good: Vec<Expected> = exps
            .iter()
            .filter(|e| **e != exps[3])
            .chain([&exps[0]])
            .cloned()
            .collect();
        let mut batch = store.batch();
        let n = batch.stage_parallel(&good, 4, source, &NoProgress).unwrap();
        assert_eq!(n, 5);
        assert_eq!(batch.commit().unwrap(), 5);
        let mut want: Vec<String> = good[..5]
            .iter()
            .map(|e| e.digest.hex().to_owned())
            .collect();
        want.sort();
        assert_eq!(blob_files(&store), want);
        // Present blobs are not copied again.
        let mut batch = store.batch();
        assert_eq!(
            batch.stage_parallel(&good, 4, source, &NoProgress).unwrap(),
            0
        );
    }
}
