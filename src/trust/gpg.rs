//! GPG simple signing (`signedBy` with keyType `GPGKeys`): a signature is an OpenPGP
//! signed message (binary as skopeo and `gpg --sign` write it, or armored), usually
//! compressed, whose literal data is the simple-signing payload ([`super::payload`]).
//! It verifies when one of its signatures checks out against a primary key of the
//! keyring, or a subkey whose binding to its primary key verifies.

use std::io::{Cursor, Read};

use pgp::composed::{Deserializable, Message, SignedPublicKey};
use pgp::types::{KeyDetails, VerifyingKey};

use super::payload::MAX_SIGNATURE;

/// The trusted keys of one requirement.
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
}

impl Keyring {
    /// Reads keys (armored or binary, one or many) from each of `blobs`.
    pub fn parse(blobs: &[Vec<u8>]) -> Result<Keyring, String> {
        let mut keys = Vec::new();
        for b in blobs {
            let (iter, _) = SignedPublicKey::from_reader_many(Cursor::new(b.as_slice()))
                .map_err(|e| format!("not an OpenPGP public key: {e}"))?;
            for k in iter {
                keys.push(k.map_err(|e| format!("not an OpenPGP public key: {e}"))?);
            }
        }
        if keys.is_empty() {
            return Err("holds no OpenPGP public key".into());
        }
        Ok(Keyring { keys })
    }

    /// The primary keys' fingerprints, for messages.
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| hex_upper(k.primary_key.fingerprint().as_bytes()))
            .collect()
    }

    /// The keys a signature may be made by, each with why it can no longer vouch
    /// (revoked, expired), if it cannot.
    fn verifiers(&self, now: u64) -> Vec<(&dyn VerifyingKey, Option<String>)> {
        let mut out: Vec<(&dyn VerifyingKey, Option<String>)> = Vec::new();
        for k in &self.keys {
            let primary = primary_problem(k, now);
            out.push((k, primary.clone()));
            for sub in &k.public_subkeys {
                if sub.verify_bindings(&k.primary_key).is_err() {
                    continue;
                }
                let newest = sub
                    .signatures
                    .iter()
                    .max_by_key(|s| s.created().map(|t| t.as_secs()));
                let sub_problem = expired(
                    newest.and_then(|s| s.key_expiration_time()),
                    sub.key.created_at().as_secs(),
                    now,
                )
                .map(|end| {
                    format!(
                        "subkey {} expired at unix time {end}",
                        hex_upper(sub.key.fingerprint().as_bytes())
                    )
                });
                out.push((sub, primary.clone().or(sub_problem)));
            }
        }
        out
    }
}

/// Why a primary key can no longer vouch: a (valid) revocation, or the expiry its
/// newest self-signature gives.
fn primary_problem(k: &SignedPublicKey, now: u64) -> Option<String> {
    let fpr = hex_upper(k.primary_key.fingerprint().as_bytes());
    if k.details
        .revocation_signatures
        .iter()
        .any(|s| s.verify_key(&k.primary_key).is_ok())
    {
        return Some(format!("key {fpr} is revoked"));
    }
    let newest = k
        .details
        .users
        .iter()
        .flat_map(|u| &u.signatures)
        .chain(&k.details.direct_signatures)
        .max_by_key(|s| s.created().map(|t| t.as_secs()));
    expired(
        newest.and_then(|s| s.key_expiration_time()),
        k.primary_key.created_at().as_secs(),
        now,
    )
    .map(|end| format!("key {fpr} expired at unix time {end}"))
}

/// The end of a key's life when it is over by `now`.
fn expired(validity: Option<pgp::types::Duration>, created: u32, now: u64) -> Option<u64> {
    let secs = validity.map(|d| d.as_secs()).filter(|s| *s != 0)?;
    let end = u64::from(created).saturating_add(u64::from(secs));
    (now >= end).then_some(end)
}

fn hex_upper(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// Why a GPG signature was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum GpgRejection {
    /// Not an OpenPGP signed message hoist can read.
    Malformed(String),
    /// Well formed, but no trusted key made it.
    UntrustedKey,
    /// Made by a trusted key that is revoked or expired.
    UnusableKey(String),
}

/// Verifies `signature` against `keyring`; returns the signed payload.
pub fn verify(keyring: &Keyring, signature: &[u8]) -> Result<Vec<u8>, GpgRejection> {
    let bad = |e: &dyn std::fmt::Display| GpgRejection::Malformed(e.to_string());
    let (mut msg, _) = Message::from_reader(Cursor::new(signature)).map_err(|e| bad(&e))?;
    // gpg compresses by default; a signed message may hold a compressed one too.
    for _ in 0..4 {
        if !msg.is_compressed() {
            break;
        }
        msg = msg.decompress().map_err(|e| bad(&e))?;
    }
    if !msg.is_signed() {
        return Err(GpgRejection::Malformed("the message is not signed".into()));
    }
    let mut payload = Vec::new();
    (&mut msg)
        .take(MAX_SIGNATURE + 1)
        .read_to_end(&mut payload)
        .map_err(|e| bad(&e))?;
    if payload.len() as u64 > MAX_SIGNATURE {
        return Err(GpgRejection::Malformed(format!(
            "the payload is larger than {MAX_SIGNATURE} bytes"
        )));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut unusable = None;
    for (key, problem) in keyring.verifiers(now) {
        if msg.verify(key).is_ok() {
            match problem {
                None => return Ok(payload),
                Some(p) => unusable = Some(p),
            }
        }
    }
    Err(unusable.map_or(GpgRejection::UntrustedKey, GpgRejection::UnusableKey))
}
