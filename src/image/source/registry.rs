//! `docker://HOST[:PORT]/REPO[:TAG|@DIGEST]` and bare names: an image in a registry
//! (`crate::image::registry`). The manifest named by the tag (or digest) is fetched and
//! checked against the digest the registry reports and the one the reference names;
//! an index or manifest list is resolved by platform, each manifest it names fetched
//! by digest and checked against its descriptor. Blobs stream straight from the
//! registry; the store verifies them as they land. It is also the image's
//! `trust::SignatureStore` (lookasides, cosign attachments).

use std::io::{self, Read};

use oci_spec::image::{Descriptor, MediaType};

use super::{
    resolve_with, ImageSource, NameHint, Platform, SourceError, SourceImage, DOCKER_LIST,
    DOCKER_MANIFEST, MAX_JSON_BLOB, OCI_INDEX, OCI_MANIFEST,
};
use crate::image::digest::{DigestError, Expected};
use crate::image::reference::DockerRef;
use crate::image::registry::{Client, Options, RegistryError};
use crate::trust::payload::MAX_SIGNATURE;
use crate::trust::SignatureStore;

pub struct RegistrySource {
    client: Client,
    reference: DockerRef,
    source_name: String,
}

impl RegistrySource {
    /// Connects to the registry `reference` names (the `/v2/` ping happens here).
    pub fn open(
        reference: &DockerRef,
        opts: &Options,
        source_name: String,
    ) -> Result<RegistrySource, SourceError> {
        let client = Client::connect(opts, reference.domain(), &reference.repository())?;
        Ok(RegistrySource {
            client,
            reference: reference.clone(),
            source_name,
        })
    }

    /// The manifest `exp` names, fetched by digest and checked against its size too.
    fn manifest_by_digest(&self, exp: &Expected, what: &str) -> Result<Vec<u8>, SourceError> {
        if exp.size > MAX_JSON_BLOB {
            return Err(SourceError::TooLarge {
                what: what.into(),
                size: exp.size,
            });
        }
        let m = self
            .client
            .manifest(self.reference.path(), &exp.digest.to_string())?;
        let got = m.bytes.len() as u64;
        if got != exp.size {
            return Err(SourceError::Verify(if got > exp.size {
                DigestError::Oversized {
                    digest: exp.digest.clone(),
                    size: exp.size,
                }
            } else {
                DigestError::Truncated {
                    digest: exp.digest.clone(),
                    size: exp.size,
                    got,
                }
            }));
        }
        Ok(m.bytes)
    }
}

impl ImageSource for RegistrySource {
    fn describe(&self) -> String {
        self.source_name.clone()
    }

    fn manifest(&self, platform: &Platform) -> Result<SourceImage, SourceError> {
        let r = &self.reference;
        let reference = match (r.digest(), r.tag()) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.to_owned(),
            (None, None) => "latest".to_owned(),
        };
        let top = self.client.manifest(r.path(), &reference)?;
        // A generic Content-Type (application/json) says nothing: the document's own
        // mediaType decides then.
        let media_type = match top.media_type.as_str() {
            m @ (OCI_MANIFEST | OCI_INDEX | DOCKER_MANIFEST | DOCKER_LIST) => m,
            _ => "",
        };
        let desc = Descriptor::new(
            MediaType::from(media_type),
            top.bytes.len() as u64,
            &top.digest,
        );
        resolve_with(
            desc,
            platform,
            Some(NameHint::Docker(r.clone())),
            |exp, what| {
                if exp.digest == top.digest {
                    Ok(top.bytes.clone())
                } else {
                    self.manifest_by_digest(exp, what)
                }
            },
        )
    }

    fn blob(&self, blob: &Expected) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        let (reader, _len) = self.client.blob(self.reference.path(), &blob.digest)?;
        Ok(Box::new(CutIsEnd { inner: reader }))
    }

    fn signatures(&self) -> Option<&dyn SignatureStore> {
        Some(self)
    }
}

/// Signatures for the signature policy (`trust`): http(s) lookasides read with this
/// client's agent, cosign attachments (`sha256-<hex>.sig`) from the same repository
/// with the same credentials.
impl SignatureStore for RegistrySource {
    fn lookaside(&self, url: &str) -> Result<Option<Vec<u8>>, SourceError> {
        Ok(self.client.lookaside(url, MAX_SIGNATURE)?)
    }

    fn tagged_manifest(&self, tag: &str) -> Result<Option<Vec<u8>>, SourceError> {
        match self.client.manifest(self.reference.path(), tag) {
            Ok(m) => Ok(Some(m.bytes)),
            Err(RegistryError::ManifestUnknown { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn attachment_blob(&self, blob: &Expected) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        self.blob(blob)
    }
}

/// A body whose connection dropped ends there: the verifying reader downstream then
/// reports the blob as truncated, naming its digest and how far it got (ureq reports
/// a body shorter than its Content-Length as an error of its own).
struct CutIsEnd<R> {
    inner: R,
}

impl<R: Read> Read for CutIsEnd<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::UnexpectedEof
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::BrokenPipe
                        | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(0)
            }
            r => r,
        }
    }
}
