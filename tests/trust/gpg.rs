//! `signedBy` (GPG simple signing from a file:// lookaside): skopeo's signatures
//! verify; a wrong key, another digest, another repository, no signature and
//! `reject` are refused before anything is stored.

use serde_json::json;

use crate::common::scratch;
use crate::keys::*;
use crate::support::*;

const NAME: &str = "example.com/hoist/busybox:latest";

fn signed_by(key: &std::path::Path) -> serde_json::Value {
    json!({
        "default": [{"type": "reject"}],
        "transports": {"oci": {"": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": s(key)}]}}
    })
}

fn src() -> String {
    format!("oci:{}:latest", s(&busybox_layout()))
}

#[test]
fn skopeo_signature_is_accepted_and_others_refused() {
    let t = Setup::new("trust-gpg");
    let gpg = Gpg::new("default");
    let key = gpg.export(&t.h.path("key.asc"), true);
    t.policy(&signed_by(&key));
    let digest = busybox_digest();

    // No signature yet.
    let err = t.refused(&["--name", NAME, &src()]);
    assert!(err.contains("is not signed"), "{err}");
    assert!(err.contains("signedBy"), "{err}");

    gpg.skopeo_sign(
        &busybox_manifest(),
        NAME,
        &t.lookaside("hoist/busybox", &digest, 1),
    );
    assert_eq!(t.admitted(&["--name", NAME, &src()]), digest);
    assert!(t.h.names().contains(&NAME.to_string()));

    // The same signature does not vouch for another tag or repository.
    let err = t.refused(&["--name", "example.com/hoist/busybox:v2", &src()]);
    assert!(err.contains("signed for another tag"), "{err}");
    // (another repository: its own lookaside path holds a signature for busybox)
    let other = t.lookaside("hoist/other", &digest, 1);
    std::fs::copy(t.lookaside("hoist/busybox", &digest, 1), other).unwrap();
    let err = t.refused(&["--name", "example.com/hoist/other:latest", &src()]);
    assert!(err.contains("signed for another repository"), "{err}");
    assert!(err.contains(&format!("`{NAME}`")), "{err}");
}

#[test]
fn binary_keyring_and_any_signature_of_several() {
    let t = Setup::new("trust-gpg-any");
    let gpg = Gpg::new("ed25519");
    let key = gpg.export(&t.h.path("key.gpg"), false);
    t.policy(&signed_by(&key));
    let digest = busybox_digest();
    // signature-1 is for another digest, signature-2 is good: one is enough.
    gpg.gpg_sign(
        &payload(
            "atomic container signature",
            &hoist::image::digest::Digest::of(b"x").to_string(),
            NAME,
        ),
        &t.lookaside("hoist/busybox", &digest, 1),
    );
    gpg.gpg_sign(
        &payload("atomic container signature", &digest, NAME),
        &t.lookaside("hoist/busybox", &digest, 2),
    );
    assert_eq!(t.admitted(&["--name", NAME, &src()]), digest);
}

#[test]
fn wrong_key_is_refused() {
    let t = Setup::new("trust-gpg-wrongkey");
    let trusted = Gpg::new("ed25519");
    let other = Gpg::new("ed25519");
    let key = trusted.export(&t.h.path("key.asc"), true);
    t.policy(&signed_by(&key));
    let digest = busybox_digest();
    other.skopeo_sign(
        &busybox_manifest(),
        NAME,
        &t.lookaside("hoist/busybox", &digest, 1),
    );
    let err = t.refused(&["--name", NAME, &src()]);
    assert!(err.contains("not signed by a trusted key"), "{err}");
    assert!(
        err.contains(&trusted.fpr),
        "the error names the trusted key: {err}"
    );
}

#[test]
fn signature_for_another_digest_is_refused() {
    let t = Setup::new("trust-gpg-digest");
    let gpg = Gpg::new("ed25519");
    let key = gpg.export(&t.h.path("key.asc"), true);
    t.policy(&signed_by(&key));
    let digest = busybox_digest();
    // A validly signed statement about another manifest, put where this image's goes.
    let mut other_manifest = busybox_manifest();
    other_manifest.push(b'\n');
    gpg.skopeo_sign(
        &other_manifest,
        NAME,
        &t.lookaside("hoist/busybox", &digest, 1),
    );
    let err = t.refused(&["--name", NAME, &src()]);
    assert!(err.contains("signed for another digest"), "{err}");
    assert!(err.contains(&digest), "{err}");
}

#[test]
fn reject_accept_and_scopes() {
    let t = Setup::new("trust-scopes");
    let layout = s(&busybox_layout()).to_owned();
    // The most specific scope wins: the layout's own path rejects, the default accepts.
    t.policy(&json!({
        "default": [{"type": "insecureAcceptAnything"}],
        "transports": {"oci": {&layout: [{"type": "reject"}]}}
    }));
    let err = t.refused(&["--name", NAME, &src()]);
    assert!(err.contains("rejected by the signature policy"), "{err}");
    assert!(err.contains(&format!("scope `{layout}`")), "{err}");
    // A parent directory's scope counts too.
    let parent = busybox_layout().parent().unwrap().to_path_buf();
    t.policy(&json!({
        "default": [{"type": "insecureAcceptAnything"}],
        "transports": {"oci": {s(&parent): [{"type": "reject"}]}}
    }));
    t.refused(&["--name", NAME, &src()]);
    // Another transport's scope does not.
    t.policy(&json!({
        "default": [{"type": "insecureAcceptAnything"}],
        "transports": {"oci-archive": {"": [{"type": "reject"}]}}
    }));
    assert_eq!(t.admitted(&["--name", NAME, &src()]), busybox_digest());
    let archive = format!("oci-archive:{}", s(&busybox_archive()));
    t.refused(&["--name", NAME, &archive]);
}

#[test]
fn bad_policies_are_errors_not_accept() {
    let t = Setup::new("trust-badpolicy");
    for (policy, want) in [
        (
            r#"{"default": [{"type": "acceptEverything"}]}"#,
            "unknown requirement type `acceptEverything`",
        ),
        (r#"{"default": []}"#, "empty list"),
        (
            r#"{"default": [{"type": "insecureAcceptAnything"}], "x": 1}"#,
            "unknown field `x`",
        ),
        ("not json", "signature policy"),
    ] {
        std::fs::write(t.h.path("policy.json"), policy).unwrap();
        let err = t.refused(&["--name", NAME, &src()]);
        assert!(err.contains(want), "{policy}: {err}");
    }
    // A policy file that does not exist, named explicitly.
    let before = snapshot(&t.h.store());
    let err = t.h.fail(&[
        "--signature-policy",
        "/nonexistent/policy.json",
        "fetch",
        &src(),
    ]);
    assert!(err.contains("/nonexistent/policy.json"), "{err}");
    assert_eq!(snapshot(&t.h.store()), before);
}

/// What HOST.md promises: `skopeo copy --sign-by` to a registry writes the signature
/// to the lookaside staging dir as `<repo>@sha256=<hex>/signature-1`; hoist reads it
/// there and admits the same image from its OCI layout under that name.
#[test]
fn skopeo_copy_sign_by_lookaside_is_read() {
    let t = Setup::new("trust-copy-sign");
    let gpg = Gpg::new("ed25519");
    let key = gpg.export(&t.h.path("key.asc"), true);
    t.policy(&signed_by(&key));
    let staging = scratch("trust-staging-rd");
    std::fs::write(
        staging.path().join("staging.yaml"),
        format!(
            "default-docker:\n  lookaside-staging: file://{}\n",
            s(&t.h.path("lookaside"))
        ),
    )
    .unwrap();
    let reg = Registry::start();
    let name = format!("127.0.0.1:{}/hoist/busybox:latest", reg.port);
    let skopeo = require("skopeo", "skopeo");
    let out = gpg
        .command(s(&skopeo))
        .args([
            "--registries.d",
            s(staging.path()),
            "copy",
            "--dest-tls-verify=false",
            "--sign-by",
            &gpg.fpr,
            &src(),
            &format!("docker://{name}"),
        ])
        .output()
        .expect("spawn skopeo");
    assert!(
        out.status.success(),
        "skopeo copy --sign-by: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let digest = busybox_digest();
    assert!(
        t.lookaside("hoist/busybox", &digest, 1).is_file(),
        "skopeo wrote the signature where hoist looks"
    );
    assert_eq!(t.admitted(&["--name", &name, &src()]), digest);
}

/// A signature over the index an image was picked from (what `skopeo copy --all
/// --sign-by` signs) vouches for the image: the index was verified against its digest
/// and names the manifest's.
#[test]
fn signature_over_the_index_is_accepted() {
    let t = Setup::new("trust-gpg-index");
    let gpg = Gpg::new("ed25519");
    let key = gpg.export(&t.h.path("key.asc"), true);
    t.policy(&signed_by(&key));
    let layout = copy_layout(&t.h.path("layout"));
    let manifest = busybox_manifest();
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": busybox_digest(),
            "size": manifest.len(),
            "platform": {"os": "linux", "architecture": arch}
        }]
    }))
    .unwrap();
    let index_digest = write_blob(&layout, &index);
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": index_digest,
                "size": index.len(),
                "annotations": {"org.opencontainers.image.ref.name": "latest"}
            }]
        }))
        .unwrap(),
    )
    .unwrap();
    let src = format!("oci:{}:latest", s(&layout));
    let err = t.refused(&["--name", NAME, &src]);
    assert!(
        err.contains(&index_digest.replace(':', "=")),
        "both digests looked up: {err}"
    );
    gpg.skopeo_sign(
        &index,
        NAME,
        &t.lookaside("hoist/busybox", &index_digest, 1),
    );
    assert_eq!(t.admitted(&["--name", NAME, &src]), busybox_digest());
}

/// A trusted key that expired, or was revoked, no longer vouches for anything, even
/// for signatures it made while it was good.
#[test]
fn expired_and_revoked_keys_are_refused() {
    let t = Setup::new("trust-gpg-expired");
    let digest = busybox_digest();
    let signed = payload("atomic container signature", &digest, NAME);

    let old = Gpg::with("ed25519", "1d", Some("20200101T000000!"));
    old.gpg_sign_at(
        &signed,
        &t.lookaside("hoist/busybox", &digest, 1),
        Some("20200101T120000!"),
    );
    let key = old.export(&t.h.path("old.asc"), true);
    t.policy(&signed_by(&key));
    let err = t.refused(&["--name", NAME, &src()]);
    assert!(
        err.contains("no longer vouches") && err.contains("expired"),
        "{err}"
    );

    let revoked = Gpg::new("ed25519");
    revoked.gpg_sign(&signed, &t.lookaside("hoist/busybox", &digest, 1));
    let before = revoked.export(&t.h.path("before.asc"), true);
    t.policy(&signed_by(&before));
    assert_eq!(t.admitted(&["--name", NAME, &src()]), digest);
    revoked.revoke();
    let key = revoked.export(&t.h.path("revoked.asc"), true);
    t.policy(&signed_by(&key));
    t.h.ok(&["image", "rm", NAME]);
    let err = t.refused(&["--name", NAME, &src()]);
    assert!(err.contains("is revoked"), "{err}");
}
