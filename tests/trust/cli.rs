//! `hoist trust`: rkt-style entries in the policy file, keys copied into `--root`,
//! `--list` as a table and JSON, `--remove`; and a policy `hoist trust` wrote admitting
//! a `docker` image through the library's check, as the registry transport will.

use serde_json::Value;

use crate::keys::*;
use crate::support::*;

fn trust(
    h: &Hoist,
    policy: &std::path::Path,
    root: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    let mut a = vec!["--signature-policy", s(policy), "trust", "--root", s(root)];
    a.extend_from_slice(args);
    h.run(&a)
}

fn assert_ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn trust_refuses_bad_keys_and_prefixes() {
    let h = Hoist::new("trust-cli-bad");
    let policy = h.path("etc/policy.json");
    let root = h.path("trust");
    let gpg = Gpg::new("ed25519");
    let gpg_key = gpg.export(&h.path("key.asc"), true);
    // A key that is neither kind: refused, nothing written.
    std::fs::write(h.path("junk.key"), "not a key").unwrap();
    let out = trust(
        &h,
        &policy,
        &root,
        &["--prefix", "example.com/team", s(&h.path("junk.key"))],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(!policy.exists(), "no policy written for a bad key");
    // A prefix that is not a normalised scope.
    let out = trust(&h, &policy, &root, &["--prefix", "busybox", s(&gpg_key)]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!policy.exists());
}

#[test]
fn trust_add_list_remove() {
    let h = Hoist::new("trust-cli");
    let policy = h.path("etc/policy.json");
    let root = h.path("trust");
    let gpg = Gpg::new("ed25519");
    let gpg_key = gpg.export(&h.path("key.asc"), true);
    let pem = h.path("cosign.pub");
    std::fs::write(&pem, Cosign::new(3).public_pem()).unwrap();

    let out = trust(
        &h,
        &policy,
        &root,
        &["--prefix", "example.com/team", s(&gpg_key)],
    );
    assert_ok(&out);
    let out = trust(
        &h,
        &policy,
        &root,
        &["--prefix", "quay.example.org", s(&pem)],
    );
    assert_ok(&out);
    // Adding the same key twice changes nothing.
    let once = std::fs::read(&policy).unwrap();
    trust(
        &h,
        &policy,
        &root,
        &["--prefix", "example.com/team", s(&gpg_key)],
    );
    assert_eq!(std::fs::read(&policy).unwrap(), once);

    let p: Value = serde_json::from_slice(&once).unwrap();
    assert_eq!(
        p["default"][0]["type"], "insecureAcceptAnything",
        "created with an accept-anything default"
    );
    let team = &p["transports"]["docker"]["example.com/team"][0];
    assert_eq!(team["type"], "signedBy");
    assert_eq!(team["keyType"], "GPGKeys");
    let copied = team["keyPath"].as_str().unwrap();
    assert!(copied.starts_with(s(&root)), "{copied}");
    assert_eq!(
        std::fs::read(copied).unwrap(),
        std::fs::read(&gpg_key).unwrap()
    );
    let quay = &p["transports"]["docker"]["quay.example.org"][0];
    assert_eq!(quay["type"], "sigstoreSigned");

    let out = trust(&h, &policy, &root, &["--list", "--format", "json"]);
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows
        .iter()
        .any(|r| r["scope"] == "example.com/team" && r["type"] == "signedBy"));
    let out = trust(&h, &policy, &root, &["--list"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("TRANSPORT"), "{table}");
    assert!(
        table.contains("\"quay.example.org\"") && table.contains("sigstoreSigned"),
        "{table}"
    );

    let out = trust(
        &h,
        &policy,
        &root,
        &["--remove", "--prefix", "example.com/team"],
    );
    assert_ok(&out);
    assert!(
        !std::path::Path::new(copied).exists(),
        "its copied key went with it"
    );
    let p: Value = serde_json::from_slice(&std::fs::read(&policy).unwrap()).unwrap();
    assert!(p["transports"]["docker"].get("example.com/team").is_none());
    assert!(p["transports"]["docker"].get("quay.example.org").is_some());
    let out = trust(
        &h,
        &policy,
        &root,
        &["--remove", "--prefix", "example.com/team"],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "removing what is not there is an error"
    );
    // No temp files left beside the policy or the keys.
    for dir in [policy.parent().unwrap(), root.as_path()] {
        for n in names_in(dir) {
            assert!(!n.starts_with('.'), "{n} left in {}", dir.display());
        }
    }
}

/// The `docker` transport's path through the library: what `hoist trust` wrote, with
/// cosign attachments enabled in registries.d, admits a signed image and refuses it
/// when attachments are not enabled for its registry. (The OCI layout stands in for
/// the registry as the SignatureStore.)
#[test]
fn trusted_prefix_admits_a_docker_image() {
    use hoist::image::digest::Digest;
    use hoist::image::reference::ImageRef;
    use hoist::image::source::oci::OciLayout;
    use hoist::trust::{Policy, Registries, Subject};

    let h = Hoist::new("trust-docker");
    let policy = h.path("policy.json");
    let signer = Cosign::new(5);
    let pem = h.path("cosign.pub");
    std::fs::write(&pem, signer.public_pem()).unwrap();
    let out = trust(
        &h,
        &policy,
        &h.path("trust"),
        &["--prefix", "registry.example.com/team", s(&pem)],
    );
    assert_ok(&out);

    let layout = copy_layout(&h.path("layout"));
    let digest = busybox_digest();
    let name = "registry.example.com/team/busybox:1";
    let p = payload("cosign container image signature", &digest, name);
    let sig = signer.sign(&p);
    attach(&layout, &digest, &[(p, sig)]);
    let source = OciLayout::open_dir(&layout, Some("latest".into()), "test".into()).unwrap();

    let policy = Policy::load_file(&policy).unwrap();
    let r = ImageRef::parse(&format!("docker://{name}")).unwrap();
    let ImageRef::Docker(d) = &r else {
        unreachable!()
    };
    let subject = Subject::new(&r, Some(d.clone()), Digest::parse(&digest).unwrap());

    let mut registries = Registries::default();
    let err = policy
        .check(&subject, &registries, &source)
        .unwrap_err()
        .to_string();
    assert!(err.contains("use-sigstore-attachments"), "{err}");
    registries
        .merge("docker:\n  registry.example.com:\n    use-sigstore-attachments: true\n")
        .unwrap();
    policy.check(&subject, &registries, &source).unwrap();
    // Outside the prefix the default (accept anything, as created) applies.
    let r2 = ImageRef::parse("docker://other.example.com/x:1").unwrap();
    let s2 = Subject::new(&r2, None, Digest::parse(&digest).unwrap());
    policy.check(&s2, &registries, &source).unwrap();
}

/// A prefix trusted with `hoist trust` guards its names whatever the source: fetching
/// an unsigned local image under a name in it is refused, a signed one admitted, and
/// names outside it keep the accept-anything default.
#[test]
fn trusted_prefix_guards_local_fetches_by_name() {
    let t = Setup::new("trust-prefix-local");
    let gpg = Gpg::new("ed25519");
    let key = gpg.export(&t.h.path("key.asc"), true);
    let policy = t.h.path("policy.json");
    let out = trust(
        &t.h,
        &policy,
        &t.h.path("trust"),
        &["--prefix", "example.com/hoist", s(&key)],
    );
    assert_ok(&out);
    let src = format!("oci:{}:latest", s(&busybox_layout()));
    let name = "example.com/hoist/busybox:latest";
    let err = t.refused(&["--name", name, &src]);
    assert!(err.contains("docker scope `example.com/hoist`"), "{err}");
    assert!(err.contains("is not signed"), "{err}");
    let digest = busybox_digest();
    gpg.skopeo_sign(
        &busybox_manifest(),
        name,
        &t.lookaside("hoist/busybox", &digest, 1),
    );
    assert_eq!(t.admitted(&["--name", name, &src]), digest);
    assert_eq!(
        t.admitted(&["--name", "example.org/elsewhere:1", &src]),
        digest
    );
}

/// Concurrent `hoist trust` runs each keep their entry (the policy's directory is
/// locked around every read-modify-write).
#[test]
fn concurrent_trusts_lose_nothing() {
    let h = Hoist::new("trust-concurrent");
    let policy = h.path("etc/policy.json");
    let root = h.path("trust");
    let pem = h.path("cosign.pub");
    std::fs::write(&pem, Cosign::new(4).public_pem()).unwrap();
    let children: Vec<_> = (0..8)
        .map(|i| {
            let mut c = h.command();
            c.args([
                "--signature-policy",
                s(&policy),
                "trust",
                "--root",
                s(&root),
            ])
            .args(["--prefix", &format!("example.com/team{i}"), s(&pem)])
            .stdout(std::process::Stdio::null());
            c.spawn().unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let p: Value = serde_json::from_slice(&std::fs::read(&policy).unwrap()).unwrap();
    assert_eq!(
        p["transports"]["docker"].as_object().unwrap().len(),
        8,
        "{p}"
    );
}
