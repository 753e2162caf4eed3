//! [`Policy::check`] against a fake [`SignatureStore`]: the contract a transport
//! implements (http lookasides asked for by exact URL, the `sha256-<hex>.sig` manifest
//! and its blobs verified by the trust module), and the decisions.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::json;

use super::*;
use crate::image::digest::Expected;
use crate::image::reference::ImageRef;
use crate::image::source::SourceError;

/// A registry as the trust module sees it.
#[derive(Default)]
struct Fake {
    lookaside: HashMap<String, Vec<u8>>,
    tags: HashMap<String, Vec<u8>>,
    blobs: HashMap<Digest, Vec<u8>>,
    asked: RefCell<Vec<String>>,
}

impl SignatureStore for Fake {
    fn lookaside(&self, url: &str) -> Result<Option<Vec<u8>>, SourceError> {
        self.asked.borrow_mut().push(url.to_owned());
        Ok(self.lookaside.get(url).cloned())
    }

    fn tagged_manifest(&self, tag: &str) -> Result<Option<Vec<u8>>, SourceError> {
        Ok(self.tags.get(tag).cloned())
    }

    fn attachment_blob(&self, blob: &Expected) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        match self.blobs.get(&blob.digest) {
            Some(b) => Ok(Box::new(b.as_slice())),
            None => Err(SourceError::MissingBlob {
                digest: blob.digest.clone(),
            }),
        }
    }
}

const NAME: &str = "registry.example.com/team/app:1";

fn key() -> SigningKey {
    SigningKey::from_slice(&[3u8; 32]).unwrap()
}

fn subject() -> Subject {
    let r = ImageRef::parse(&format!("docker://{NAME}")).unwrap();
    let ImageRef::Docker(d) = &r else {
        unreachable!()
    };
    Subject::new(&r, Some(d.clone()), Digest::of(b"manifest"))
}

/// Attaches a cosign signature over `payload` (its layer blob given as `blob`).
fn attach(fake: &mut Fake, digest: &Digest, payload: &[u8], blob: &[u8]) {
    let sig: Signature = key().sign(payload);
    let b64 = base64::engine::general_purpose::STANDARD.encode(sig.to_der().as_bytes());
    let d = Digest::of(payload);
    fake.blobs.insert(d.clone(), blob.to_vec());
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": Digest::of(b"{}").to_string(), "size": 2},
        "layers": [{"mediaType": cosign::SIMPLESIGNING, "digest": d.to_string(),
                    "size": payload.len(),
                    "annotations": {cosign::SIGNATURE: b64}}]
    });
    fake.tags.insert(
        cosign::signature_tag(digest),
        serde_json::to_vec(&manifest).unwrap(),
    );
}

fn payload(digest: &Digest, name: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"critical": {
        "type": payload::COSIGN_TYPE,
        "image": {"docker-manifest-digest": digest.to_string()},
        "identity": {"docker-reference": name}}}))
    .unwrap()
}

fn policy(requirement: serde_json::Value) -> Policy {
    let text = json!({
        "default": [{"type": "reject"}],
        "transports": {"docker": {"registry.example.com/team": [requirement]}}
    });
    Policy::parse(
        text.to_string().as_bytes(),
        Path::new("/p.json"),
        Path::new("/"),
    )
    .unwrap()
}

fn sigstore_policy() -> Policy {
    let pem = key()
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let data = base64::engine::general_purpose::STANDARD.encode(pem);
    policy(json!({"type": "sigstoreSigned", "keyData": data}))
}

fn attachments_on() -> Registries {
    let mut r = Registries::default();
    r.merge("docker: {registry.example.com: {use-sigstore-attachments: true}}")
        .unwrap();
    r
}

#[test]
fn cosign_through_the_trait() {
    let s = subject();
    let p = sigstore_policy();
    let mut fake = Fake::default();
    let payload = payload(&s.digest, NAME);
    attach(&mut fake, &s.digest, &payload, &payload);
    p.check(&s, &attachments_on(), &fake).unwrap();
    // Without use-sigstore-attachments the registry's attachments are not read.
    let e = p.check(&s, &Registries::default(), &fake).unwrap_err();
    assert!(e.to_string().contains("use-sigstore-attachments"), "{e}");
    // A blob that is not what its descriptor says is an error, not a signature.
    let mut bad = Fake::default();
    attach(&mut bad, &s.digest, &payload, b"something else");
    let e = p.check(&s, &attachments_on(), &bad).unwrap_err();
    assert!(matches!(e, TrustError::Attachment { .. }), "{e}");
    // No tag: not signed.
    let e = p
        .check(&s, &attachments_on(), &Fake::default())
        .unwrap_err();
    assert!(matches!(e, TrustError::NoSignature { .. }), "{e}");
}

#[test]
fn http_lookaside_goes_through_the_trait() {
    let s = subject();
    let keyring = {
        // Any OpenPGP public key will do to get as far as the lookaside.
        let armored = include_str!("testdata/key.asc");
        base64::engine::general_purpose::STANDARD.encode(armored)
    };
    let p = policy(json!({"type": "signedBy", "keyType": "GPGKeys", "keyData": keyring}));
    let mut r = Registries::default();
    r.merge("default-docker: {lookaside: 'https://sigs.example.com/store/'}")
        .unwrap();
    let fake = Fake::default();
    let e = p.check(&s, &r, &fake).unwrap_err();
    assert!(matches!(e, TrustError::NoSignature { .. }), "{e}");
    let want = format!(
        "https://sigs.example.com/store/team/app@sha256={}/signature-1",
        s.digest.hex()
    );
    assert_eq!(*fake.asked.borrow(), std::slice::from_ref(&want));
    let mut fake = Fake::default();
    fake.lookaside.insert(want, b"not a signature".to_vec());
    let e = p.check(&s, &r, &fake).unwrap_err().to_string();
    assert!(e.contains("signature-1") && e.contains("unreadable"), "{e}");
}
