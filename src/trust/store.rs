//! Where signatures are read from: [`SignatureStore`], the one trait a transport
//! implements so that policy can check its images.
//!
//! ```text
//! pub trait SignatureStore {
//!     fn lookaside(&self, url: &str) -> Result<Option<Vec<u8>>, SourceError>;
//!     fn tagged_manifest(&self, tag: &str) -> Result<Option<Vec<u8>>, SourceError>;
//!     fn attachment_blob(&self, blob: &Expected)
//!         -> Result<Box<dyn Read + Send + '_>, SourceError>;
//! }
//! ```
//!
//! - `lookaside`: GET an `http://` or `https://` lookaside URL (GPG signatures,
//!   `<base>/<repo>@sha256=<hex>/signature-N`); `Ok(None)` for "not there" (HTTP 404),
//!   which ends the `signature-1, -2, …` walk. `file://` URLs never reach it: the
//!   trust module reads those itself ([`read_file_url`]).
//! - `tagged_manifest`: the manifest tagged `tag` in the same repository (or layout)
//!   as the image, raw bytes as served; `Ok(None)` when there is no such tag. Used
//!   with tag `sha256-<hex>.sig` for cosign attachments.
//! - `attachment_blob`: a blob of that repository, unverified (the trust module checks
//!   digest and size while it reads, and caps the size first).
//!
//! An [`ImageSource`](crate::image::source::ImageSource) hands its store out through
//! `ImageSource::signatures` (default: none). The OCI layout source implements it over
//! its own files (`super::layout`), so `oci:` and `oci-archive:` images can carry
//! cosign signatures as `sha256-<hex>.sig` tags; the registry transport implements it
//! over the distribution API with the same authenticated client it pulls with.

use std::io::Read;

use crate::image::digest::Expected;
use crate::image::source::SourceError;

use super::payload::MAX_SIGNATURE;
use super::TrustError;

/// Where one image's signatures are read from (see the module docs).
pub trait SignatureStore {
    /// Reads an `http(s)://` lookaside signature; `Ok(None)` when there is none.
    fn lookaside(&self, url: &str) -> Result<Option<Vec<u8>>, SourceError>;
    /// The manifest tagged `tag` beside the image; `Ok(None)` when there is none.
    fn tagged_manifest(&self, tag: &str) -> Result<Option<Vec<u8>>, SourceError>;
    /// A blob beside the image, not verified.
    fn attachment_blob(&self, blob: &Expected) -> Result<Box<dyn Read + Send + '_>, SourceError>;
}

/// The store of a source that keeps no signatures (a docker-archive): no attachments,
/// and no way to read http(s) lookasides.
pub struct NoSignatures;

/// The error for an http(s) lookaside a source cannot read.
pub fn http_unsupported(url: &str) -> SourceError {
    SourceError::Read {
        path: url.into(),
        source: std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "an http(s) lookaside is read through the registry transport; use a file:// lookaside for local images",
        ),
    }
}

impl SignatureStore for NoSignatures {
    fn lookaside(&self, url: &str) -> Result<Option<Vec<u8>>, SourceError> {
        Err(http_unsupported(url))
    }

    fn tagged_manifest(&self, _tag: &str) -> Result<Option<Vec<u8>>, SourceError> {
        Ok(None)
    }

    fn attachment_blob(&self, blob: &Expected) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        Err(SourceError::MissingBlob {
            digest: blob.digest.clone(),
        })
    }
}

/// Reads a lookaside signature: `file://` here, anything else through `store`.
pub fn read_signature(
    store: &dyn SignatureStore,
    url: &str,
) -> Result<Option<Vec<u8>>, TrustError> {
    let bytes = match url.strip_prefix("file://") {
        Some(path) => read_file_url(url, path)?,
        None => store.lookaside(url)?,
    };
    if let Some(b) = &bytes {
        if b.len() as u64 > MAX_SIGNATURE {
            return Err(TrustError::SignatureTooLarge { url: url.into() });
        }
    }
    Ok(bytes)
}

/// Reads the file a `file://` URL names; `None` when it does not exist.
pub fn read_file_url(url: &str, path: &str) -> Result<Option<Vec<u8>>, TrustError> {
    if !path.starts_with('/') {
        return Err(TrustError::Lookaside {
            url: url.into(),
            reason: "a file:// URL needs an absolute path".into(),
        });
    }
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(TrustError::ReadFile {
                path: path.into(),
                source,
            })
        }
    };
    let mut out = Vec::new();
    f.take(MAX_SIGNATURE + 1)
        .read_to_end(&mut out)
        .map_err(|source| TrustError::ReadFile {
            path: path.into(),
            source,
        })?;
    Ok(Some(out))
}
