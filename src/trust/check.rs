//! The decision: [`Policy::check`] evaluates the requirements of the most specific
//! scope for a [`Subject`]; all of them must hold. A `signedBy` or `sigstoreSigned`
//! requirement holds when any one signature verifies with one of its keys, signs the
//! image's manifest digest, and names an identity its `signedIdentity` accepts. When
//! none does, the error lists why each was turned down (wrong key, another digest,
//! another repository or tag, unreadable).

use std::path::{Path, PathBuf};

use super::cosign::{self, CosignRejection};
use super::gpg::{self, GpgRejection, Keyring};
use super::identity::SignedIdentity;
use super::payload::{self, Claim};
use super::policy::{KeySource, Policy, Requirement};
use super::registries::{signature_url, Registries};
use super::scope::docker_scopes;
use super::store::{read_signature, SignatureStore};
use super::{Subject, Transport, TrustError};
use crate::image::digest::Digest;
use crate::image::reference::DockerRef;

/// The policy file used when `--signature-policy` is not given.
pub const DEFAULT_POLICY: &str = "/etc/containers/policy.json";
/// The most lookaside signatures read for one image.
const MAX_SIGNATURES: usize = 64;

impl Policy {
    /// Reads `--signature-policy FILE` when given, else the user's
    /// `~/.config/containers/policy.json`, else [`DEFAULT_POLICY`]; none is an error.
    pub fn load(explicit: Option<&Path>) -> Result<Policy, TrustError> {
        if let Some(p) = explicit {
            return Policy::load_file(p);
        }
        let mut candidates = Vec::new();
        if let Some(home) = std::env::var_os("HOME") {
            candidates.push(PathBuf::from(home).join(".config/containers/policy.json"));
        }
        candidates.push(PathBuf::from(DEFAULT_POLICY));
        for c in &candidates {
            if c.exists() {
                return Policy::load_file(c);
            }
        }
        Err(TrustError::NoPolicy {
            paths: candidates
                .iter()
                .map(|c| format!("`{}`", c.display()))
                .collect(),
        })
    }

    /// Reads and parses one policy file.
    pub fn load_file(path: &Path) -> Result<Policy, TrustError> {
        let bytes = std::fs::read(path).map_err(|source| TrustError::ReadFile {
            path: path.into(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("/"));
        Policy::parse(&bytes, path, base)
    }

    /// Whether `subject` may be admitted; signatures are read from `store` (and from
    /// file:// lookasides) as `registries` says.
    ///
    /// An image from a local source is checked twice: by its transport's scopes, as
    /// containers/image does, and, when a `docker` scope more specific than `""`
    /// covers the name it will get in the store, by that scope too. So a prefix
    /// `hoist trust` made trusted cannot be given to unsigned content by fetching it
    /// from a file under that name.
    pub fn check(
        &self,
        subject: &Subject,
        registries: &Registries,
        store: &dyn SignatureStore,
    ) -> Result<(), TrustError> {
        let transport = subject.transport.name();
        let (scope, reqs) = self.requirements_for(transport, &subject.scopes);
        let scope = match scope {
            None => "the default".to_string(),
            Some("") => format!("the {transport} transport's default"),
            Some(s) => format!("{transport} scope `{s}`"),
        };
        self.run(subject, registries, store, scope, reqs)?;
        if subject.transport == Transport::Docker {
            return Ok(());
        }
        let Some(name) = &subject.identity else {
            return Ok(());
        };
        match self.requirements_for("docker", &docker_scopes(name)) {
            (Some(s), reqs) if !s.is_empty() => {
                let scope = format!("docker scope `{s}`, which covers the name `{name}`");
                self.run(subject, registries, store, scope, reqs)
            }
            _ => Ok(()),
        }
    }

    fn run(
        &self,
        subject: &Subject,
        registries: &Registries,
        store: &dyn SignatureStore,
        scope: String,
        reqs: &[Requirement],
    ) -> Result<(), TrustError> {
        let check = Check {
            policy: self,
            subject,
            registries,
            store,
            scope,
        };
        reqs.iter().try_for_each(|r| check.requirement(r))
    }

    /// The policy file `load` reads: `explicit`, else the user's, else the system's
    /// (the one `hoist trust` edits too).
    pub fn path(explicit: Option<&Path>) -> PathBuf {
        if let Some(p) = explicit {
            return p.into();
        }
        std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".config/containers/policy.json"))
            .filter(|p| p.exists())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_POLICY))
    }
}

struct Check<'a> {
    policy: &'a Policy,
    subject: &'a Subject,
    registries: &'a Registries,
    store: &'a dyn SignatureStore,
    scope: String,
}

impl Check<'_> {
    fn requirement(&self, r: &Requirement) -> Result<(), TrustError> {
        match r {
            Requirement::InsecureAcceptAnything => Ok(()),
            Requirement::Reject => Err(TrustError::Rejected {
                image: self.subject.shown.clone(),
                scope: self.scope.clone(),
            }),
            Requirement::SignedBy { keys, identity } => self.signed_by(keys, identity),
            Requirement::SigstoreSigned { keys, identity } => self.sigstore(keys, identity),
        }
    }

    /// The bytes of each key.
    fn key_blobs(&self, keys: &KeySource) -> Result<Vec<(String, Vec<u8>)>, TrustError> {
        match keys {
            KeySource::Data(d) => Ok(d
                .iter()
                .enumerate()
                .map(|(i, b)| (format!("keyData[{i}]"), b.clone()))
                .collect()),
            KeySource::Paths(paths) => paths
                .iter()
                .map(|p| {
                    let full = self.policy.base.join(p);
                    std::fs::read(&full)
                        .map(|b| (full.display().to_string(), b))
                        .map_err(|source| TrustError::ReadFile { path: full, source })
                })
                .collect(),
        }
    }

    fn signed_by(&self, keys: &KeySource, identity: &SignedIdentity) -> Result<(), TrustError> {
        let blobs = self.key_blobs(keys)?;
        let mut all = Vec::new();
        for (name, b) in &blobs {
            // Each file on its own, so that the error names the bad one.
            Keyring::parse(std::slice::from_ref(b)).map_err(|reason| TrustError::Key {
                key: name.clone(),
                reason,
            })?;
            all.push(b.clone());
        }
        let keyring = Keyring::parse(&all).map_err(|reason| TrustError::Key {
            key: blobs
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            reason,
        })?;
        let Some(repo) = &self.subject.identity else {
            return Err(self.none(
                "signedBy",
                "the image has no registry name to look signatures up by".into(),
            ));
        };
        let Some(base) = self.registries.entry_for(repo).and_then(|e| e.read_base()) else {
            return Err(self.none(
                "signedBy",
                format!(
                    "registries.d names no lookaside for `{}`",
                    repo.repository()
                ),
            ));
        };
        let mut reasons = Vec::new();
        let mut looked = Vec::new();
        for digest in self.subject.digests() {
            for n in 1..=MAX_SIGNATURES {
                let url = signature_url(base, repo, digest, n);
                let Some(sig) = read_signature(self.store, &url)? else {
                    if n == 1 {
                        looked.push(format!("no `{url}`"));
                    }
                    break;
                };
                let outcome = match gpg::verify(&keyring, &sig) {
                    Err(GpgRejection::UntrustedKey) => Err(format!(
                        "not signed by a trusted key ({})",
                        keyring.fingerprints().join(", ")
                    )),
                    Err(GpgRejection::Malformed(m)) => Err(format!("unreadable: {m}")),
                    Err(GpgRejection::UnusableKey(why)) => Err(format!(
                        "made by a trusted key that no longer vouches: {why}"
                    )),
                    Ok(p) => self.claim(&p, payload::GPG_TYPE, identity, digest),
                };
                match outcome {
                    Ok(()) => return Ok(()),
                    Err(why) => reasons.push(format!("signature-{n} of {digest}: {why}")),
                }
            }
        }
        if reasons.is_empty() {
            return Err(self.none("signedBy", looked.join(", ")));
        }
        Err(self.unverified("signedBy", reasons))
    }

    fn sigstore(&self, keys: &KeySource, identity: &SignedIdentity) -> Result<(), TrustError> {
        let keys = self
            .key_blobs(keys)?
            .into_iter()
            .map(|(name, b)| {
                cosign::parse_key(&b).map_err(|reason| TrustError::Key { key: name, reason })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if self.subject.transport == Transport::Docker {
            let enabled = self
                .subject
                .identity
                .as_ref()
                .and_then(|r| self.registries.entry_for(r))
                .and_then(|e| e.use_sigstore_attachments)
                .unwrap_or(false);
            if !enabled {
                return Err(self.none(
                    "sigstoreSigned",
                    "registries.d does not set use-sigstore-attachments: true for it".into(),
                ));
            }
        }
        let mut reasons = Vec::new();
        let mut looked = Vec::new();
        for digest in self.subject.digests() {
            let tag = cosign::signature_tag(digest);
            let attachments = cosign::attachments(self.store, digest)?;
            if attachments.is_empty() {
                looked.push(format!("no `{tag}` tag, or no signature in it"));
            }
            for (i, a) in attachments.iter().enumerate() {
                let outcome = match cosign::verify(&keys, a) {
                    Err(CosignRejection::UntrustedKey) => {
                        Err("not signed by a trusted key".to_string())
                    }
                    Err(CosignRejection::Malformed(m)) => Err(format!("unreadable: {m}")),
                    Ok(()) => self.claim(&a.payload, payload::COSIGN_TYPE, identity, digest),
                };
                match outcome {
                    Ok(()) => return Ok(()),
                    Err(why) => reasons.push(format!("{tag} layer {i}: {why}")),
                }
            }
        }
        if reasons.is_empty() {
            return Err(self.none("sigstoreSigned", looked.join(", ")));
        }
        Err(self.unverified("sigstoreSigned", reasons))
    }

    /// Checks what a verified payload claims against the image.
    fn claim(
        &self,
        bytes: &[u8],
        kind: &str,
        identity: &SignedIdentity,
        want: &Digest,
    ) -> Result<(), String> {
        let Claim { digest, reference } = payload::parse(bytes, kind)?;
        if digest != want.to_string() {
            return Err(format!(
                "signed for another digest: {digest} (the image is {want})"
            ));
        }
        let signed = DockerRef::parse(&reference)
            .map_err(|e| format!("the signed identity `{reference}` is not a reference: {e}"))?;
        if identity.matches(self.subject.identity.as_ref(), &signed) {
            return Ok(());
        }
        let image = self
            .subject
            .identity
            .as_ref()
            .map_or_else(|| "no registry name".to_string(), |i| format!("`{i}`"));
        let what = match &self.subject.identity {
            Some(i) if i.repository() == signed.repository() => "another tag",
            _ => "another repository",
        };
        Err(format!(
            "signed for {what}: `{signed}` (the image is {image}; signedIdentity {})",
            identity.to_json()["type"].as_str().unwrap_or_default()
        ))
    }

    fn none(&self, requirement: &'static str, looked: String) -> TrustError {
        TrustError::NoSignature {
            image: self.subject.shown.clone(),
            requirement,
            scope: self.scope.clone(),
            looked,
        }
    }

    fn unverified(&self, requirement: &'static str, reasons: Vec<String>) -> TrustError {
        TrustError::Unverified {
            image: self.subject.shown.clone(),
            requirement,
            scope: self.scope.clone(),
            reasons: reasons.join("; "),
        }
    }
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
