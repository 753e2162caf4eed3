//! What a fetch tells the user while it copies blobs: the store reports each blob's
//! start and its bytes as they stream; the command decides how to show them (progress
//! bars on a terminal, nothing otherwise). Reports come from several threads.

use crate::image::digest::Expected;

/// Receives a fetch's progress.
pub trait Progress: Sync {
    /// Blob `exp` starts streaming in; the returned handle sees its bytes and is
    /// dropped when the blob is done (or failed).
    fn blob(&self, exp: &Expected) -> Box<dyn BlobProgress + '_>;
}

/// The progress of one blob.
pub trait BlobProgress {
    /// `bytes` more arrived.
    fn advance(&self, bytes: u64);
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn blob(&self, _exp: &Expected) -> Box<dyn BlobProgress + '_> {
        Box::new(NoProgress)
    }
}

impl BlobProgress for NoProgress {
    fn advance(&self, _bytes: u64) {}
}
