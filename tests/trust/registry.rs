//! `docker://` images from a real docker-registry on loopback, admitted by policy:
//! GPG signatures skopeo wrote with `copy --sign-by`, read from a file:// and an
//! http:// lookaside; cosign signatures pushed as `sha256-<hex>.sig` tags and read
//! through the registry with `use-sigstore-attachments: true`; unsigned images and a
//! registry without attachments enabled refused, the store unchanged.

use std::path::Path;

use serde_json::json;

use crate::common::scratch;
use crate::keys::*;
use crate::support::*;

/// Copies the busybox layout to `docker://HOST/REPO:TAG`, signed by `gpg` when given
/// (the signature staged in `staging`).
fn push(reg: &Registry, src: &str, dest: &str, gpg: Option<(&Gpg, &Path)>) {
    let skopeo = require("skopeo", "skopeo");
    let dest = format!("docker://127.0.0.1:{}/{dest}", reg.port);
    let rd = scratch("trust-push-rd");
    let mut c = match gpg {
        Some((g, staging)) => {
            std::fs::write(
                rd.path().join("staging.yaml"),
                format!(
                    "default-docker:\n  lookaside-staging: file://{}\n",
                    s(staging)
                ),
            )
            .unwrap();
            let mut c = g.command(s(&skopeo));
            c.args(["--registries.d", s(rd.path()), "copy", "--sign-by", &g.fpr]);
            c
        }
        None => {
            let mut c = std::process::Command::new(&skopeo);
            c.arg("copy");
            c
        }
    };
    let out = c
        .args(["--dest-tls-verify=false", src, &dest])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("spawn skopeo");
    assert!(
        out.status.success(),
        "skopeo copy {src} {dest}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn fetch_args(reg: &Registry, image: &str) -> Vec<String> {
    vec![
        "--insecure-registry".into(),
        format!("127.0.0.1:{}", reg.port),
        format!("docker://127.0.0.1:{}/{image}", reg.port),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn admitted(t: &Setup, reg: &Registry, image: &str) -> String {
    let a = fetch_args(reg, image);
    t.admitted(&strs(&a))
}

fn refused(t: &Setup, reg: &Registry, image: &str) -> String {
    let a = fetch_args(reg, image);
    t.refused(&strs(&a))
}

#[test]
fn registry_image_signed_by_skopeo() {
    let t = Setup::new("trust-reg-gpg");
    let reg = Registry::start();
    let gpg = Gpg::new("ed25519");
    let key = gpg.export(&t.h.path("key.asc"), true);
    let scope = format!("127.0.0.1:{}/hoist", reg.port);
    t.policy(&json!({
        "default": [{"type": "insecureAcceptAnything"}],
        "transports": {"docker": {&scope: [
            {"type": "signedBy", "keyType": "GPGKeys", "keyPath": s(&key)}]}}
    }));
    let src = format!("oci:{}:latest", s(&busybox_layout()));
    push(
        &reg,
        &src,
        "hoist/busybox:latest",
        Some((&gpg, &t.h.path("lookaside"))),
    );
    push(&reg, &src, "hoist/unsigned:latest", None);
    push(&reg, &src, "elsewhere/busybox:latest", None);

    assert_eq!(admitted(&t, &reg, "hoist/busybox:latest"), busybox_digest());
    let err = refused(&t, &reg, "hoist/unsigned:latest");
    assert!(
        err.contains("is not signed") && err.contains(&scope),
        "{err}"
    );
    // By digest: the signature for the repository counts (matchRepoDigestOrExact).
    let by_digest = format!("hoist/busybox@{}", busybox_digest());
    assert_eq!(admitted(&t, &reg, &by_digest), busybox_digest());
    // Outside the scope the default applies.
    assert_eq!(
        admitted(&t, &reg, "elsewhere/busybox:latest"),
        busybox_digest()
    );

    // The same lookaside served over http.
    let httpd = Httpd::start(&t.h.path("lookaside"));
    std::fs::write(
        t.h.path("registries.d/default.yaml"),
        format!(
            "default-docker:\n  lookaside: http://127.0.0.1:{}\n",
            httpd.port
        ),
    )
    .unwrap();
    t.h.ok(&[
        "image",
        "rm",
        &format!("127.0.0.1:{}/hoist/busybox:latest", reg.port),
    ]);
    assert_eq!(admitted(&t, &reg, "hoist/busybox:latest"), busybox_digest());
    let err = refused(&t, &reg, "hoist/unsigned:latest");
    assert!(
        err.contains(&format!(
            "http://127.0.0.1:{}/hoist/unsigned@sha256=",
            httpd.port
        )),
        "{err}"
    );
}

#[test]
fn registry_image_with_cosign_attachment() {
    let t = Setup::new("trust-reg-cosign");
    let reg = Registry::start();
    let signer = Cosign::new(11);
    let pem = t.h.path("cosign.pub");
    std::fs::write(&pem, signer.public_pem()).unwrap();
    let host = format!("127.0.0.1:{}", reg.port);
    let name = format!("{host}/hoist/busybox:latest");
    t.policy(&json!({
        "default": [{"type": "reject"}],
        "transports": {"docker": {&host: [{"type": "sigstoreSigned", "keyPath": s(&pem)}]}}
    }));
    // The signature image, made in a layout and pushed beside the image.
    let layout = copy_layout(&t.h.path("layout"));
    let digest = busybox_digest();
    let p = payload("cosign container image signature", &digest, &name);
    let sig = signer.sign(&p);
    attach(&layout, &digest, &[(p, sig)]);
    let tag = format!("sha256-{}.sig", digest.strip_prefix("sha256:").unwrap());
    push(
        &reg,
        &format!("oci:{}:latest", s(&layout)),
        "hoist/busybox:latest",
        None,
    );
    push(
        &reg,
        &format!("oci:{}:{tag}", s(&layout)),
        &format!("hoist/busybox:{tag}"),
        None,
    );

    // Not read until registries.d says the registry has attachments.
    let err = refused(&t, &reg, "hoist/busybox:latest");
    assert!(err.contains("use-sigstore-attachments"), "{err}");
    std::fs::write(
        t.h.path("registries.d/attachments.yaml"),
        format!("docker:\n  {host}:\n    use-sigstore-attachments: true\n"),
    )
    .unwrap();
    assert_eq!(admitted(&t, &reg, "hoist/busybox:latest"), digest);
    // Another repository has no signature tag.
    push(
        &reg,
        &format!("oci:{}:latest", s(&busybox_layout())),
        "hoist/other:latest",
        None,
    );
    let err = refused(&t, &reg, "hoist/other:latest");
    assert!(err.contains(&format!("no `{tag}` tag")), "{err}");
}
