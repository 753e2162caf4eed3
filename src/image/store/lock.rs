//! The store's file locks: `flock(2)` on files under `locks/`, released when the lock
//! (its open file) is dropped, also when the process dies, so a killed hoist never
//! leaves the store locked.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use super::{Store, StoreError};

/// A held lock; dropping it unlocks.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

#[derive(Clone, Copy)]
enum Mode {
    Shared,
    Exclusive,
}

// moves to crate::sys (`flock` is not in src/sys.rs yet; std's File::lock needs Rust
// 1.89, above the workspace's rust-version).
fn flock(file: &File, mode: Mode) -> io::Result<()> {
    let op = match mode {
        Mode::Shared => libc::LOCK_SH,
        Mode::Exclusive => libc::LOCK_EX,
    };
    loop {
        // SAFETY: `file` is an open file that outlives the call; flock reads no
        // memory of ours and only changes the lock state of that open file.
        let r = unsafe { libc::flock(file.as_raw_fd(), op) };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn take(path: &Path, mode: Mode) -> Result<Lock, StoreError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|source| StoreError::Lock {
            path: path.into(),
            source,
        })?;
    flock(&file, mode).map_err(|source| StoreError::Lock {
        path: path.into(),
        source,
    })?;
    Ok(Lock { _file: file })
}

impl Store {
    /// Held while blobs or layers are written or read (fetch, import, render, export):
    /// many at once, never together with gc.
    pub fn lock_shared(&self) -> Result<Lock, StoreError> {
        take(&self.locks.join("store.lock"), Mode::Shared)
    }

    /// Held by gc: nobody else uses blobs or layers meanwhile.
    pub fn lock_exclusive(&self) -> Result<Lock, StoreError> {
        take(&self.locks.join("store.lock"), Mode::Exclusive)
    }

    /// Held around a read-modify-write of index.json.
    pub fn lock_index(&self) -> Result<Lock, StoreError> {
        take(&self.locks.join("index.lock"), Mode::Exclusive)
    }
}
