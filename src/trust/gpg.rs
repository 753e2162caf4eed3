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

    /// The keys a signature may be made by.
    fn verifiers(&self) -> Vec<&dyn VerifyingKey> {
        let mut out: Vec<&dyn VerifyingKey> = Vec::new();
        for k in &self.keys {
            out.push(k);
            for sub in &k.public_subkeys {
                if sub.verify_bindings(&k.primary_key).is_ok() {
                    out.push(sub);
                }
            }
        }
        out
    }
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
    if keyring
        .verifiers()
        .into_iter()
        .any(|k| msg.verify(k).is_ok())
    {
        Ok(payload)
    } else {
        Err(GpgRejection::UntrustedKey)
    }
}
