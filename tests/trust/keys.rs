//! Test keys and signers: a GPG key in a private GNUPGHOME (its agent killed on drop),
//! skopeo signing with it, a cosign-format signer over P-256, and the per-test
//! policy, registries.d and lookaside directories.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{json, Value};

use crate::common::scratch;
use crate::support::*;

/// A GPG key in a GNUPGHOME of its own.
pub struct Gpg {
    pub home: tempfile::TempDir,
    pub fpr: String,
}

impl Gpg {
    /// Makes a signing key; `algo` as `gpg --quick-gen-key` takes it (`default`,
    /// `ed25519`, `rsa2048`).
    pub fn new(algo: &str) -> Gpg {
        Gpg::with(algo, "never", None)
    }

    /// A key valid for `expire` (`never`, `1d`), made at the (frozen) `faked` time
    /// (gpg's `--faked-system-time`, e.g. `20200101T000000!`) when given.
    pub fn with(algo: &str, expire: &str, faked: Option<&str>) -> Gpg {
        require("gpg", "gnupg");
        let home = scratch("trust-gnupg");
        let mut perms = std::fs::metadata(home.path()).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o700);
        std::fs::set_permissions(home.path(), perms).unwrap();
        let mut g = Gpg {
            home,
            fpr: String::new(),
        };
        let mut args = vec!["--batch", "--pinentry-mode", "loopback", "--passphrase", ""];
        if let Some(t) = faked {
            args.extend(["--faked-system-time", t]);
        }
        args.extend([
            "--quick-gen-key",
            "hoist test <hoist@example.com>",
            algo,
            "sign",
            expire,
        ]);
        g.run(&args);
        let out = g.run(&["--list-keys", "--with-colons"]);
        let fpr = out
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .and_then(|l| l.split(':').find(|f| f.len() == 40))
            .expect("gpg lists the new key's fingerprint")
            .to_owned();
        g.fpr = fpr;
        g
    }

    pub fn command(&self, tool: &str) -> Command {
        let mut c = Command::new(tool);
        c.env("GNUPGHOME", self.home.path()).stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.command("gpg").args(args).output().expect("spawn gpg");
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Writes the public key to `to`, armored or binary.
    pub fn export(&self, to: &Path, armor: bool) -> PathBuf {
        let mut args = vec!["--export"];
        if armor {
            args.push("--armor");
        }
        args.push(&self.fpr);
        let out = self.command("gpg").args(&args).output().expect("spawn gpg");
        assert!(
            out.status.success() && !out.stdout.is_empty(),
            "gpg --export"
        );
        std::fs::write(to, out.stdout).unwrap();
        to.to_path_buf()
    }

    /// `skopeo standalone-sign`: the signature `skopeo copy --sign-by` makes, for the
    /// manifest bytes `manifest` and the identity `reference`.
    pub fn skopeo_sign(&self, manifest: &[u8], reference: &str, out: &Path) {
        let dir = scratch("trust-manifest");
        let m = dir.path().join("manifest.json");
        std::fs::write(&m, manifest).unwrap();
        let skopeo = require("skopeo", "skopeo");
        let o = self
            .command(skopeo.to_str().unwrap())
            .args([
                "standalone-sign",
                s(&m),
                reference,
                &self.fpr,
                "--output",
                s(out),
            ])
            .output()
            .expect("spawn skopeo");
        assert!(
            o.status.success(),
            "skopeo standalone-sign: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// `gpg --sign` over a payload of our own (the same format skopeo signs).
    pub fn gpg_sign(&self, payload: &[u8], out: &Path) {
        self.gpg_sign_at(payload, out, None);
    }

    /// `gpg --sign` at the (frozen) `faked` time when given.
    pub fn gpg_sign_at(&self, payload: &[u8], out: &Path, faked: Option<&str>) {
        // gpg will not overwrite a signature; a test may re-sign in place.
        let _ = std::fs::remove_file(out);
        let dir = scratch("trust-payload");
        let p = dir.path().join("payload.json");
        std::fs::write(&p, payload).unwrap();
        let mut args = vec!["--batch", "--pinentry-mode", "loopback", "--passphrase", ""];
        if let Some(t) = faked {
            args.extend(["--faked-system-time", t]);
        }
        args.extend([
            "--local-user",
            &self.fpr,
            "--output",
            s(out),
            "--sign",
            s(&p),
        ]);
        self.run(&args);
    }

    /// Imports the revocation certificate gpg made with the key.
    pub fn revoke(&self) {
        let rev = self
            .home
            .path()
            .join("openpgp-revocs.d")
            .join(format!("{}.rev", self.fpr));
        // gpg prefixes the armor line with `:` so that it is not imported by mistake.
        let text = crate::common::read(&rev).replace(":-----BEGIN", "-----BEGIN");
        let fixed = self.home.path().join("revoke.asc");
        std::fs::write(&fixed, text).unwrap();
        self.run(&["--batch", "--import", s(&fixed)]);
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = self.command("gpgconf").args(["--kill", "all"]).status();
    }
}

/// A simple-signing payload.
pub fn payload(kind: &str, digest: &str, reference: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "critical": {
            "type": kind,
            "image": {"docker-manifest-digest": digest},
            "identity": {"docker-reference": reference}
        },
        "optional": {"creator": "hoist tests"}
    }))
    .unwrap()
}

/// A cosign-style P-256 key.
pub struct Cosign {
    pub key: SigningKey,
}

impl Cosign {
    pub fn new(seed: u8) -> Cosign {
        let mut bytes = [seed; 32];
        bytes[0] = 1;
        Cosign {
            key: SigningKey::from_slice(&bytes).expect("a valid scalar"),
        }
    }

    pub fn public_pem(&self) -> String {
        self.key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap()
    }

    /// base64 of the DER signature over `payload`, as cosign annotates it.
    pub fn sign(&self, payload: &[u8]) -> String {
        let sig: Signature = self.key.sign(payload);
        base64::engine::general_purpose::STANDARD.encode(sig.to_der().as_bytes())
    }
}

/// Adds to `layout` an image tagged `sha256-<hex>.sig` (for the manifest `digest`)
/// whose layers are the `(payload, signature)` pairs given, as cosign writes them.
pub fn attach(layout: &Path, digest: &str, sigs: &[(Vec<u8>, String)]) {
    let config_bytes: &[u8] =
        br#"{"architecture":"","config":{},"os":"","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config = write_blob(layout, config_bytes);
    let layers: Vec<Value> = sigs
        .iter()
        .map(|(payload, sig)| {
            let d = write_blob(layout, payload);
            json!({
                "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                "digest": d,
                "size": payload.len(),
                "annotations": {"dev.cosignproject.cosign/signature": sig}
            })
        })
        .collect();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_bytes.len()},
        "layers": layers
    }))
    .unwrap();
    let md = write_blob(layout, &manifest);
    let index_path = layout.join("index.json");
    let mut index: Value = serde_json::from_str(&crate::common::read(&index_path)).unwrap();
    let tag = format!("sha256-{}.sig", digest.strip_prefix("sha256:").unwrap());
    index["manifests"].as_array_mut().unwrap().push(json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": md,
        "size": manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": tag}
    }));
    std::fs::write(index_path, serde_json::to_vec(&index).unwrap()).unwrap();
}

/// A test's store plus its policy, registries.d and file:// lookaside.
pub struct Setup {
    pub h: Hoist,
}

impl Setup {
    /// A store holding an imported image and a registries.d whose default lookaside is `lookaside/`.
    pub fn new(prefix: &str) -> Setup {
        let h = Hoist::new(prefix);
        std::fs::create_dir_all(h.path("registries.d")).unwrap();
        std::fs::create_dir_all(h.path("lookaside")).unwrap();
        std::fs::write(
            h.path("registries.d/default.yaml"),
            format!(
                "default-docker:\n  lookaside: file://{}\n",
                s(&h.path("lookaside"))
            ),
        )
        .unwrap();
        // Something in the store already, so that "unchanged" means more than "empty".
        let root = h.path("tiny");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/hostname"), "tiny\n").unwrap();
        h.ok(&["image", "import", s(&root), "tiny"]);
        Setup { h }
    }

    pub fn policy(&self, policy: &Value) -> PathBuf {
        let p = self.h.path("policy.json");
        std::fs::write(&p, serde_json::to_vec_pretty(policy).unwrap()).unwrap();
        p
    }

    /// Where signature number `n` of the image `digest` in repository path `repo`
    /// (no registry) goes.
    pub fn lookaside(&self, repo: &str, digest: &str, n: usize) -> PathBuf {
        let dir = self.h.path("lookaside").join(format!(
            "{repo}@sha256={}",
            digest.strip_prefix("sha256:").unwrap()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(format!("signature-{n}"))
    }

    fn args<'a>(&'a self, extra: &[&'a str]) -> Vec<String> {
        let mut v = vec![
            "--signature-policy".to_string(),
            s(&self.h.path("policy.json")).to_owned(),
            "--registries.d".to_string(),
            s(&self.h.path("registries.d")).to_owned(),
            "fetch".to_string(),
        ];
        v.extend(extra.iter().map(|e| e.to_string()));
        v
    }

    /// A fetch that must be admitted; returns the digest.
    pub fn admitted(&self, extra: &[&str]) -> String {
        let a = self.args(extra);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        last_line(&self.h.ok(&a))
    }

    /// A fetch that must be refused, leaving the store as it was; returns the error.
    pub fn refused(&self, extra: &[&str]) -> String {
        let before = snapshot(&self.h.store());
        let a = self.args(extra);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let err = self.h.fail(&a);
        assert_eq!(
            snapshot(&self.h.store()),
            before,
            "a refused image leaves the store exactly as it was"
        );
        err
    }
}

/// The busybox manifest's bytes.
pub fn busybox_manifest() -> Vec<u8> {
    std::fs::read(blob(&busybox_layout(), &busybox_digest())).unwrap()
}

/// A docker-registry on a free loopback port, killed on drop.
pub struct Registry {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    pub fn start() -> Registry {
        let bin = require("docker-registry", "docker-registry");
        let dir = scratch("trust-registry");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {}}}}}\nhttp: {{addr: 127.0.0.1:{port}}}\n",
                s(&dir.path().join("data"))
            ),
        )
        .unwrap();
        let child = Command::new(bin)
            .args(["serve", s(&config)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let r = Registry {
            child,
            port,
            _dir: dir,
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "docker-registry did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `busybox httpd` serving `dir` on a free loopback port (an http lookaside), killed
/// on drop.
pub struct Httpd {
    child: Child,
    pub port: u16,
}

impl Httpd {
    pub fn start(dir: &Path) -> Httpd {
        let bin = require("busybox", "busybox-static");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(bin)
            .args([
                "httpd",
                "-f",
                "-p",
                &format!("127.0.0.1:{port}"),
                "-h",
                s(dir),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start busybox httpd");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "busybox httpd did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Httpd { child, port }
    }
}

impl Drop for Httpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
