//! What `hoist trust` writes: rkt-style "trust this key for this prefix" turned into a
//! policy.json entry under the `docker` transport. A GPG public key (armored or binary)
//! becomes a `signedBy` requirement (keyType GPGKeys), a PEM public key a
//! `sigstoreSigned` one; a second key for the same prefix joins the first
//! (`keyPaths`: any of them may sign). Keys are copied into the trust directory
//! (`/etc/hoist/trust` unless `--root` says otherwise) as `<prefix>-<hash>.gpg|.pem`,
//! so the policy never points into a user's home or a temp dir.
//!
//! The policy file is created with `default: [insecureAcceptAnything]` when missing;
//! every write (key and policy) goes to a temp file beside its target and is renamed in,
//! and each read-modify-write holds an exclusive `flock` on the policy's directory, so
//! that two `hoist trust` runs never lose each other's entry.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::identity::SignedIdentity;
use super::policy::{KeySource, Policy, Requirement};
use super::{cosign, gpg, TrustError};
use crate::image::digest::Digest;

/// Where `hoist trust` keeps the keys it copies unless `--root` says otherwise.
pub const DEFAULT_TRUST_DIR: &str = "/etc/hoist/trust";

/// The kind of key a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Gpg,
    Sigstore,
}

/// Tells a PEM public key (cosign) from an OpenPGP one, and checks it parses.
pub fn key_kind(bytes: &[u8]) -> Result<KeyKind, String> {
    if bytes
        .windows(26)
        .any(|w| w == b"-----BEGIN PUBLIC KEY-----")
    {
        cosign::parse_key(bytes).map(|_| KeyKind::Sigstore)
    } else {
        gpg::Keyring::parse(&[bytes.to_vec()]).map(|_| KeyKind::Gpg)
    }
}

/// What `add` did.
#[derive(Clone, Debug)]
pub struct Added {
    pub kind: KeyKind,
    pub key_path: PathBuf,
}

/// Reads the policy at `path`, or a fresh accept-anything one when there is none.
fn load_or_new(path: &Path) -> Result<Policy, TrustError> {
    if path.exists() {
        return Policy::load_file(path);
    }
    Ok(Policy {
        default: vec![Requirement::InsecureAcceptAnything],
        transports: Default::default(),
        base: path.parent().unwrap_or(Path::new("/")).into(),
    })
}

/// Trusts `key` (the file's bytes, named `key_name` in errors) for images under
/// `prefix` (a `docker` scope: registry, namespace, repository or reference).
pub fn add(
    policy_path: &Path,
    trust_dir: &Path,
    prefix: &str,
    key_name: &str,
    key: &[u8],
) -> Result<Added, TrustError> {
    super::scope::check_docker_scope(prefix).map_err(|reason| TrustError::Key {
        key: key_name.into(),
        reason: format!("--prefix {reason}"),
    })?;
    let kind = key_kind(key).map_err(|reason| TrustError::Key {
        key: key_name.into(),
        reason,
    })?;
    let _lock = lock_dir(policy_path)?;
    let mut policy = load_or_new(policy_path)?;
    let file = format!(
        "{}-{}.{}",
        prefix.replace(['/', ':', '@', '*'], "_"),
        &Digest::of(key).hex()[..16],
        if kind == KeyKind::Gpg { "gpg" } else { "pem" }
    );
    let key_path = trust_dir.join(file);
    let scopes = policy.transports.entry("docker".into()).or_default();
    let reqs = scopes.entry(prefix.into()).or_default();
    // Accept-anything and reject entries give way to the key; a key of the other kind
    // would be a second, ANDed requirement, which rkt-style trust never means.
    reqs.retain(|r| !matches!(r, Requirement::InsecureAcceptAnything | Requirement::Reject));
    let same = |r: &Requirement| {
        matches!(
            (kind, r),
            (KeyKind::Gpg, Requirement::SignedBy { .. })
                | (KeyKind::Sigstore, Requirement::SigstoreSigned { .. })
        )
    };
    if let Some(other) = reqs.iter().find(|r| !same(r)) {
        return Err(TrustError::Key {
            key: key_name.into(),
            reason: format!(
                "`{prefix}` already requires {}; remove it first (hoist trust --remove --prefix {prefix})",
                other.type_name()
            ),
        });
    }
    match reqs.iter_mut().find(|r| same(r)) {
        Some(Requirement::SignedBy { keys, .. } | Requirement::SigstoreSigned { keys, .. }) => {
            match keys {
                KeySource::Paths(p) if !p.contains(&key_path) => p.push(key_path.clone()),
                KeySource::Paths(_) => {}
                KeySource::Data(_) => {
                    return Err(TrustError::Key {
                        key: key_name.into(),
                        reason: format!("`{prefix}` has inline keyData; edit the policy by hand"),
                    })
                }
            }
        }
        _ => {
            let keys = KeySource::Paths(vec![key_path.clone()]);
            let identity = SignedIdentity::MatchRepoDigestOrExact;
            reqs.push(match kind {
                KeyKind::Gpg => Requirement::SignedBy { keys, identity },
                KeyKind::Sigstore => Requirement::SigstoreSigned { keys, identity },
            });
        }
    }
    write_atomic(&key_path, key)?;
    save(policy_path, &policy)?;
    Ok(Added { kind, key_path })
}

/// Removes the `docker` entry for `prefix`; returns the key files removed with it
/// (only those inside `trust_dir`: keys placed by hand elsewhere stay).
pub fn remove(
    policy_path: &Path,
    trust_dir: &Path,
    prefix: &str,
) -> Result<Vec<PathBuf>, TrustError> {
    let _lock = lock_dir(policy_path)?;
    let mut policy = Policy::load_file(policy_path)?;
    let removed = policy
        .transports
        .get_mut("docker")
        .and_then(|s| s.remove(prefix))
        .ok_or_else(|| TrustError::Policy {
            path: policy_path.into(),
            reason: format!("no entry for `{prefix}` in transports.docker"),
        })?;
    if policy
        .transports
        .get("docker")
        .is_some_and(|s| s.is_empty())
    {
        policy.transports.remove("docker");
    }
    save(policy_path, &policy)?;
    let mut gone = Vec::new();
    for r in &removed {
        if let Requirement::SignedBy {
            keys: KeySource::Paths(p),
            ..
        }
        | Requirement::SigstoreSigned {
            keys: KeySource::Paths(p),
            ..
        } = r
        {
            for k in p {
                let full = policy.base.join(k);
                if full.parent() == Some(trust_dir) && still_unused(&policy, &full) {
                    match std::fs::remove_file(&full) {
                        Ok(()) => gone.push(full),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(source) => return Err(TrustError::ReadFile { path: full, source }),
                    }
                }
            }
        }
    }
    Ok(gone)
}

/// Whether no remaining entry names `key`.
fn still_unused(policy: &Policy, key: &Path) -> bool {
    let uses = |r: &Requirement| match r {
        Requirement::SignedBy {
            keys: KeySource::Paths(p),
            ..
        }
        | Requirement::SigstoreSigned {
            keys: KeySource::Paths(p),
            ..
        } => p.iter().any(|k| policy.base.join(k) == key),
        _ => false,
    };
    !policy.default.iter().any(uses)
        && !policy
            .transports
            .values()
            .flat_map(|s| s.values())
            .flatten()
            .any(uses)
}

/// One line of `hoist trust --list`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Row {
    pub transport: String,
    pub scope: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub keys: Vec<String>,
    #[serde(rename = "signedIdentity", skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
}

/// Every requirement of the policy, the default first.
pub fn rows(policy: &Policy) -> Vec<Row> {
    let row = |transport: &str, scope: &str, r: &Requirement| {
        let (keys, identity) = match r {
            Requirement::SignedBy { keys, identity }
            | Requirement::SigstoreSigned { keys, identity } => {
                let k = match keys {
                    KeySource::Paths(p) => p
                        .iter()
                        .map(|p| policy.base.join(p).display().to_string())
                        .collect(),
                    KeySource::Data(d) => d
                        .iter()
                        .map(|b| format!("keyData ({} bytes)", b.len()))
                        .collect(),
                };
                let id = identity.to_json()["type"].as_str().map(str::to_owned);
                (k, id)
            }
            _ => (Vec::new(), None),
        };
        Row {
            transport: transport.into(),
            scope: scope.into(),
            kind: r.type_name().into(),
            keys,
            identity,
        }
    };
    let mut out: Vec<Row> = policy.default.iter().map(|r| row("", "", r)).collect();
    for (t, scopes) in &policy.transports {
        for (s, reqs) in scopes {
            out.extend(reqs.iter().map(|r| row(t, s, r)));
        }
    }
    out
}

/// Writes the policy file, pretty-printed, by temp file and rename.
fn save(path: &Path, policy: &Policy) -> Result<(), TrustError> {
    let mut text =
        serde_json::to_vec_pretty(&policy.to_json()).map_err(|e| TrustError::Policy {
            path: path.into(),
            reason: e.to_string(),
        })?;
    text.push(b'\n');
    write_atomic(path, &text)
}

/// Locks the directory of the policy file at `path` (made if missing); dropping the
/// returned file unlocks.
fn lock_dir(path: &Path) -> Result<std::fs::File, TrustError> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let err = |source| TrustError::WriteFile {
        path: dir.into(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let f = std::fs::File::open(dir).map_err(err)?;
    crate::sys::flock(std::os::fd::AsFd::as_fd(&f), true, true).map_err(err)?;
    Ok(f)
}

/// Writes `bytes` to `path` through a temp file beside it, synced, then renamed in.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TrustError> {
    let err = |source| TrustError::WriteFile {
        path: path.into(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir).map_err(err)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(err)
}
