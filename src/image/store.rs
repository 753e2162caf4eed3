//! The image store under `--dir` (default `/var/lib/hoist`):
//!
//! ```text
//! images/            an OCI image layout skopeo and umoci read as it is
//!   oci-layout, index.json   tags as org.opencontainers.image.ref.name annotations
//!   blobs/sha256/<hex>       every blob verified before it was renamed in
//! layers/<hex>/      unpacked layers, named by diff_id (written by `image::unpack`)
//! locks/store.lock   shared by everyone using blobs or layers, exclusive for gc
//! locks/index.lock   exclusive around every read-modify-write of index.json
//! ```
//!
//! Blobs stream into temp files beside their final place, verified as they go, and are
//! renamed in together once everything an operation needs checked out ([`Batch`]);
//! index.json is replaced by rename. So an interrupted or refused fetch leaves the
//! layout as it was, and readers never see a half-written file. Concurrent hoist
//! processes share the store through the two locks: fetches run side by side (same
//! blobs land under the same names), gc waits for them and they for gc.

mod blobs;
mod export;
mod fetch;
mod gc;
mod images;
mod import;
mod layers;
mod layout;
mod lock;
mod parallel;
pub mod progress;

use std::io;
use std::path::{Path, PathBuf};

pub use blobs::Batch;
pub use export::ExportFormat;
pub use fetch::{Candidate, Fetched};
pub use gc::GcReport;
pub use images::{Image, ImageEntry};
pub use parallel::DEFAULT_JOBS;

use super::digest::{Digest, DigestError};
use super::reference::ReferenceError;
use super::source::SourceError;

/// Where the store lives unless `--dir` says otherwise.
pub const DEFAULT_DIR: &str = "/var/lib/hoist";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("create `{path}`")]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("open `{path}`")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("read `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("write `{path}`")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("rename `{from}` to `{to}`")]
    Rename {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("remove `{path}`")]
    Remove {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("lock `{path}`")]
    Lock {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("copy blob {digest}")]
    CopyBlob {
        digest: Digest,
        #[source]
        source: io::Error,
    },
    #[error("parse {what}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("`{path}` is not an OCI image layout hoist can use: {reason}")]
    Layout { path: PathBuf, reason: String },
    #[error("image `{name}` not known (see `hoist image list`)")]
    UnknownImage { name: String },
    #[error("blob {digest} is missing from the store (run `hoist fetch` again)")]
    MissingBlob { digest: Digest },
    #[error("{what}: `{media_type}` is not an image manifest")]
    NotImage { what: String, media_type: String },
    #[error("{what} is {size} bytes, more than the {limit} hoist reads")]
    TooLarge { what: String, size: u64, limit: u64 },
    #[error("manifest {digest}: {layers} layers but its config lists {diff_ids} diff_ids")]
    LayerCount {
        digest: Digest,
        layers: usize,
        diff_ids: usize,
    },
    #[error("layer {digest}: media type `{media_type}` is not a layer hoist can read")]
    LayerMediaType { digest: Digest, media_type: String },
    #[error("unpack layer {digest} (diff_id {diff_id})")]
    Unpack {
        digest: Digest,
        diff_id: Digest,
        // Boxed: the unpacker's error is large and most store results never carry it.
        #[source]
        source: Box<super::unpack::UnpackError>,
    },
    #[error("layer {digest}: uncompressed, it hashes to {actual}, not its diff_id {diff_id}")]
    DiffId {
        digest: Digest,
        diff_id: Digest,
        actual: Digest,
    },
    #[error("tar `{path}`")]
    Tar {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("name the image: {what} carries no name (give one with --name)")]
    NoName { what: String },
    #[error(transparent)]
    Verify(#[from] DigestError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The signature policy refused the image (nothing was stored). Boxed: the
    /// trust errors carry their reasons, and StoreError travels in many Results.
    #[error(transparent)]
    Trust(Box<crate::trust::TrustError>),
}

impl From<crate::trust::TrustError> for StoreError {
    fn from(e: crate::trust::TrustError) -> Self {
        StoreError::Trust(Box::new(e))
    }
}

/// The store rooted at one `--dir`.
#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
    images: PathBuf,
    layers: PathBuf,
    locks: PathBuf,
}

impl Store {
    /// Opens the store at `dir`, making its directories and an empty layout if they
    /// are missing.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let store = Store {
            dir: dir.into(),
            images: dir.join("images"),
            layers: dir.join("layers"),
            locks: dir.join("locks"),
        };
        store.init()?;
        Ok(store)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The OCI layout (`skopeo inspect oci:<this>:NAME`).
    pub fn images_dir(&self) -> &Path {
        &self.images
    }

    /// Where unpacked layers live, one directory per diff_id.
    pub fn layers_dir(&self) -> &Path {
        &self.layers
    }

    fn blobs_dir(&self) -> PathBuf {
        self.images.join("blobs").join(super::digest::ALGORITHM)
    }

    /// Where blob `d` lives once it is in.
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.blobs_dir().join(d.hex())
    }

    /// Where the layer with diff_id `d` is unpacked.
    pub fn layer_dir(&self, d: &Digest) -> PathBuf {
        self.layers.join(d.hex())
    }
}
