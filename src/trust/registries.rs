//! registries.d (containers-registries.d(5)): YAML files (`*.yaml`) in
//! `/etc/containers/registries.d` or `--registries.d DIR` saying, per registry scope,
//! where signatures live:
//!
//! ```yaml
//! default-docker:
//!   lookaside: file:///var/lib/containers/sigstore
//! docker:
//!   registry.example.com/team:
//!     lookaside: https://sigs.example.com/sigstore
//!     use-sigstore-attachments: true
//! ```
//!
//! `lookaside` (legacy name `sigstore`) is read from; `lookaside-staging`
//! (`sigstore-staging`) is where signers write and is only checked for spelling. The
//! most specific `docker:` key for the image's reference wins as a whole (scopes as in
//! policy.json: reference, repository, namespaces, host, wildcards), else
//! `default-docker`. A key given in two files is an error, as in containers/image.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::scope::docker_scopes;
use super::TrustError;
use crate::image::digest::Digest;
use crate::image::reference::DockerRef;

/// Where registries.d lives unless `--registries.d` says otherwise.
pub const DEFAULT_DIR: &str = "/etc/containers/registries.d";

/// One scope's settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Entry {
    pub lookaside: Option<String>,
    pub lookaside_staging: Option<String>,
    pub sigstore: Option<String>,
    pub sigstore_staging: Option<String>,
    pub use_sigstore_attachments: Option<bool>,
}

impl Entry {
    /// The lookaside base URL signatures are read from.
    pub fn read_base(&self) -> Option<&str> {
        self.lookaside.as_deref().or(self.sigstore.as_deref())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawFile {
    default_docker: Option<Entry>,
    docker: Option<BTreeMap<String, Entry>>,
}

/// The merged configuration of a registries.d directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Registries {
    pub default_docker: Option<Entry>,
    pub docker: BTreeMap<String, Entry>,
}

impl Registries {
    /// Reads every `*.yaml` in `dir`, in name order. A missing directory is an empty
    /// configuration (no lookaside anywhere) unless `explicit`.
    pub fn load(dir: &Path, explicit: bool) -> Result<Registries, TrustError> {
        let bad = |path: &Path, reason: String| TrustError::Registries {
            path: path.into(),
            reason,
        };
        let rd = match std::fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                return Ok(Registries::default())
            }
            Err(source) => {
                return Err(TrustError::ReadFile {
                    path: dir.into(),
                    source,
                })
            }
        };
        let mut files: Vec<PathBuf> = Vec::new();
        for e in rd {
            let e = e.map_err(|source| TrustError::ReadFile {
                path: dir.into(),
                source,
            })?;
            let p = e.path();
            if p.extension().is_some_and(|x| x == "yaml") {
                files.push(p);
            }
        }
        files.sort();
        let mut out = Registries::default();
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(|source| TrustError::ReadFile {
                path: path.clone(),
                source,
            })?;
            out.merge(&text).map_err(|r| bad(&path, r))?;
        }
        Ok(out)
    }

    /// Adds one file's text.
    pub fn merge(&mut self, text: &str) -> Result<(), String> {
        let meaningful = text
            .lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#') && l.trim() != "---");
        if !meaningful {
            return Ok(());
        }
        let raw: RawFile = serde_norway::from_str(text).map_err(|e| e.to_string())?;
        if let Some(d) = raw.default_docker {
            if self.default_docker.is_some() {
                return Err("`default-docker` is set in another file too".into());
            }
            check_entry(&d).map_err(|e| format!("default-docker: {e}"))?;
            self.default_docker = Some(d);
        }
        for (scope, e) in raw.docker.unwrap_or_default() {
            super::scope::check_docker_scope(&scope).map_err(|r| format!("docker: {r}"))?;
            check_entry(&e).map_err(|r| format!("docker: {scope}: {r}"))?;
            if self.docker.contains_key(&scope) {
                return Err(format!("docker: `{scope}` is set in another file too"));
            }
            self.docker.insert(scope, e);
        }
        Ok(())
    }

    /// The settings for images known as `r`.
    pub fn entry_for(&self, r: &DockerRef) -> Option<&Entry> {
        docker_scopes(r)
            .iter()
            .find_map(|s| self.docker.get(s))
            .or(self.default_docker.as_ref())
    }
}

fn check_entry(e: &Entry) -> Result<(), String> {
    for u in [
        &e.lookaside,
        &e.lookaside_staging,
        &e.sigstore,
        &e.sigstore_staging,
    ]
    .into_iter()
    .flatten()
    {
        if !["file://", "http://", "https://"]
            .iter()
            .any(|p| u.starts_with(p))
        {
            return Err(format!("`{u}` is not a file://, http:// or https:// URL"));
        }
    }
    Ok(())
}

/// The URL of signature number `n` (from 1) of the image with manifest `digest` in
/// repository `r`, under lookaside `base`: `<base>/<repo path>@sha256=<hex>/signature-n`.
pub fn signature_url(base: &str, r: &DockerRef, digest: &Digest, n: usize) -> String {
    format!(
        "{}/{}@sha256={}/signature-{n}",
        base.trim_end_matches('/'),
        r.path(),
        digest.hex()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_and_looks_up() {
        let mut r = Registries::default();
        r.merge("default-docker:\n  lookaside: file:///sigs\n")
            .unwrap();
        r.merge(
            "docker:\n  example.com/team:\n    sigstore: https://s.example.com/\n    use-sigstore-attachments: true\n",
        )
        .unwrap();
        r.merge("docker: {127.0.0.1:5000: {lookaside: 'file:///x'}}")
            .unwrap();
        r.merge("# nothing\n").unwrap();
        let e = r
            .entry_for(&DockerRef::parse("example.com/team/app:1").unwrap())
            .unwrap();
        assert_eq!(e.read_base(), Some("https://s.example.com/"));
        assert_eq!(e.use_sigstore_attachments, Some(true));
        let e = r
            .entry_for(&DockerRef::parse("example.com/other:1").unwrap())
            .unwrap();
        assert_eq!(e.read_base(), Some("file:///sigs"));
        let e = r
            .entry_for(&DockerRef::parse("127.0.0.1:5000/a").unwrap())
            .unwrap();
        assert_eq!(e.read_base(), Some("file:///x"));

        assert!(r
            .merge("default-docker: {lookaside: file:///y}")
            .unwrap_err()
            .contains("another file"));
        assert!(r
            .merge("docker: {example.com/team: {}}")
            .unwrap_err()
            .contains("another file"));
        assert!(r
            .merge("docker: {x.org: {lookasid: file:///a}}")
            .unwrap_err()
            .contains("lookasid"));
        assert!(r
            .merge("docker: {x.org: {lookaside: /a}}")
            .unwrap_err()
            .contains("not a file://"));
        assert!(r.merge("docker: [1").is_err());
    }

    #[test]
    fn signature_urls() {
        let r = DockerRef::parse("example.com/team/app:1").unwrap();
        let d = Digest::of(b"");
        assert_eq!(
            signature_url("file:///sigs/", &r, &d, 2),
            format!("file:///sigs/team/app@sha256={}/signature-2", d.hex())
        );
    }
}
