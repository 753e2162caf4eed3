//! `sigstoreSigned` with a public key: cosign-format signatures attached to the image
//! in its OCI layout as a `sha256-<hex>.sig` tag, made by the tests' own signer.

use serde_json::json;

use crate::keys::*;
use crate::support::*;

const NAME: &str = "example.com/hoist/busybox:latest";
const COSIGN: &str = "cosign container image signature";

/// A writable copy of the busybox layout, a key trusted for it, and the policy.
fn setup(prefix: &str) -> (Setup, std::path::PathBuf, Cosign) {
    let t = Setup::new(prefix);
    let layout = copy_layout(&t.h.path("layout"));
    let signer = Cosign::new(7);
    let pem = t.h.path("cosign.pub");
    std::fs::write(&pem, signer.public_pem()).unwrap();
    t.policy(&json!({
        "default": [{"type": "reject"}],
        "transports": {"oci": {"": [{"type": "sigstoreSigned", "keyPath": s(&pem)}]}}
    }));
    (t, layout, signer)
}

fn src(layout: &std::path::Path) -> String {
    format!("oci:{}:latest", s(layout))
}

#[test]
fn cosign_signature_is_accepted() {
    let (t, layout, signer) = setup("trust-cosign");
    let digest = busybox_digest();
    let err = t.refused(&["--name", NAME, &src(&layout)]);
    assert!(err.contains("is not signed"), "{err}");
    assert!(err.contains(".sig"), "{err}");

    let p = payload(COSIGN, &digest, NAME);
    let sig = signer.sign(&p);
    attach(&layout, &digest, &[(p, sig)]);
    let blobs = t.h.blobs().len();
    assert_eq!(t.admitted(&["--name", NAME, &src(&layout)]), digest);
    assert!(t.h.names().contains(&NAME.to_string()));
    // The signature image is not fetched with it: manifest, config and layer only.
    assert_eq!(t.h.blobs().len(), blobs + 3);
}

#[test]
fn cosign_refusals() {
    let (t, layout, signer) = setup("trust-cosign-bad");
    let digest = busybox_digest();
    let other_key = Cosign::new(9);
    let good = payload(COSIGN, &digest, NAME);
    let other_digest = payload(
        COSIGN,
        &hoist::image::digest::Digest::of(b"x").to_string(),
        NAME,
    );
    let other_repo = payload(COSIGN, &digest, "example.com/hoist/other:latest");
    let gpg_kind = payload("atomic container signature", &digest, NAME);
    let tampered = {
        let mut p = good.clone();
        p.push(b' ');
        p
    };
    let cases = [
        (
            (good.clone(), other_key.sign(&good)),
            "not signed by a trusted key",
        ),
        (
            (other_digest.clone(), signer.sign(&other_digest)),
            "signed for another digest",
        ),
        (
            (other_repo.clone(), signer.sign(&other_repo)),
            "signed for another repository",
        ),
        ((gpg_kind.clone(), signer.sign(&gpg_kind)), "payload type"),
        (
            (tampered, signer.sign(&good)),
            "not signed by a trusted key",
        ),
        ((good.clone(), "%%%".to_string()), "not base64"),
    ];
    for (i, (sig, want)) in cases.into_iter().enumerate() {
        let l = copy_layout(&t.h.path(&format!("layout-{i}")));
        attach(&l, &digest, &[sig]);
        let err = t.refused(&["--name", NAME, &src(&l)]);
        assert!(err.contains(want), "case {i}: want {want:?}: {err}");
    }
    // Several signatures: one good one is enough, whatever the others are.
    attach(
        &layout,
        &digest,
        &[
            (other_digest.clone(), signer.sign(&other_digest)),
            (good.clone(), signer.sign(&good)),
        ],
    );
    assert_eq!(t.admitted(&["--name", NAME, &src(&layout)]), digest);
}

/// A damaged signature layer (its bytes no longer match the descriptor) is an error
/// naming the signature tag, not a silent "unsigned".
#[test]
fn corrupt_signature_blob_is_an_error() {
    let (t, layout, signer) = setup("trust-cosign-corrupt");
    let digest = busybox_digest();
    let p = payload(COSIGN, &digest, NAME);
    let sig = signer.sign(&p);
    attach(&layout, &digest, &[(p.clone(), sig)]);
    let d = hoist::image::digest::Digest::of(&p).to_string();
    std::fs::write(blob(&layout, &d), b"{}").unwrap();
    let err = t.refused(&["--name", NAME, &src(&layout)]);
    assert!(err.contains("sha256-"), "{err}");
}
