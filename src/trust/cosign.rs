//! cosign-format signatures (`sigstoreSigned` with public keys): the image tagged
//! `sha256-<hex>.sig` beside the signed image; each of its layers, of media type
//! [`SIMPLESIGNING`], is a payload ([`super::payload`], type `cosign container image
//! signature`) and its annotation [`SIGNATURE`] the base64 of an ECDSA P-256 SHA-256
//! signature (ASN.1 DER, as cosign writes it; the fixed 64-byte form is read too) over
//! the layer's bytes.

use std::collections::HashMap;
use std::io::Read;

use base64::Engine;
use oci_spec::image::ImageManifest;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;

use super::payload::MAX_SIGNATURE;
use super::store::SignatureStore;
use super::TrustError;
use crate::image::digest::{Digest, DigestError, Expected, VerifyingReader};
use crate::image::source::MAX_JSON_BLOB;

/// The media type of a cosign signature layer.
pub const SIMPLESIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The annotation holding the signature.
pub const SIGNATURE: &str = "dev.cosignproject.cosign/signature";

/// The tag cosign attaches signatures of the manifest `digest` under.
pub fn signature_tag(digest: &Digest) -> String {
    format!("sha256-{}.sig", digest.hex())
}

/// Reads a PEM public key (`-----BEGIN PUBLIC KEY-----`, an ECDSA P-256 key).
pub fn parse_key(pem: &[u8]) -> Result<VerifyingKey, String> {
    let text = std::str::from_utf8(pem).map_err(|_| "not a PEM file".to_string())?;
    VerifyingKey::from_public_key_pem(text.trim())
        .map_err(|e| format!("not a PEM ECDSA P-256 public key: {e}"))
}

/// One signature attached to an image.
#[derive(Clone, Debug)]
pub struct Attachment {
    /// The layer's bytes, verified against its descriptor.
    pub payload: Vec<u8>,
    pub annotations: HashMap<String, String>,
}

/// The signatures attached to the image with manifest `digest`: none when there is no
/// signature tag.
pub fn attachments(
    store: &dyn SignatureStore,
    digest: &Digest,
) -> Result<Vec<Attachment>, TrustError> {
    let tag = signature_tag(digest);
    let Some(bytes) = store.tagged_manifest(&tag)? else {
        return Ok(Vec::new());
    };
    if bytes.len() as u64 > MAX_JSON_BLOB {
        return Err(TrustError::Attachment {
            tag,
            reason: "the manifest is too large".into(),
        });
    }
    let manifest: ImageManifest =
        serde_json::from_slice(&bytes).map_err(|e| TrustError::Attachment {
            tag: tag.clone(),
            reason: format!("parse the manifest: {e}"),
        })?;
    let mut out = Vec::new();
    for layer in manifest.layers() {
        if layer.media_type().to_string() != SIMPLESIGNING {
            continue;
        }
        let bad = |reason: String| TrustError::Attachment {
            tag: tag.clone(),
            reason,
        };
        let exp = Expected::of(layer).map_err(|e| bad(e.to_string()))?;
        if exp.size > MAX_SIGNATURE {
            return Err(bad(format!("layer {} is too large", exp.digest)));
        }
        let r = store.attachment_blob(&exp)?;
        let mut payload = Vec::new();
        VerifyingReader::new(r, exp.clone())
            .read_to_end(&mut payload)
            .map_err(|e| match DigestError::from_io(&e) {
                Some(d) => bad(d.to_string()),
                None => bad(format!("read layer {}: {e}", exp.digest)),
            })?;
        let annotations = layer.annotations().clone().unwrap_or_default();
        out.push(Attachment {
            payload,
            annotations: annotations.into_iter().collect(),
        });
    }
    Ok(out)
}

/// Why a cosign signature was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum CosignRejection {
    Malformed(String),
    UntrustedKey,
}

/// Checks an attachment's signature against `keys`.
pub fn verify(keys: &[VerifyingKey], a: &Attachment) -> Result<(), CosignRejection> {
    let Some(b64) = a.annotations.get(SIGNATURE) else {
        return Err(CosignRejection::Malformed(format!(
            "no `{SIGNATURE}` annotation"
        )));
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| CosignRejection::Malformed(format!("signature is not base64: {e}")))?;
    let sig = Signature::from_der(&raw)
        .or_else(|_| Signature::from_slice(&raw))
        .map_err(|_| CosignRejection::Malformed("not an ECDSA P-256 signature".into()))?;
    // Go's crypto/ecdsa may emit a high S; (r, n - s) is the same signature.
    let sig = sig.normalize_s().unwrap_or(sig);
    if keys.iter().any(|k| k.verify(&a.payload, &sig).is_ok()) {
        Ok(())
    } else {
        Err(CosignRejection::UntrustedKey)
    }
}
