//! The body of the `policy` fuzz target (fuzz/fuzz_targets/policy.rs), public so that
//! cargo-fuzz calls it and `cargo test` runs it over a fixed corpus.
//!
//! Arbitrary bytes as policy.json, as a registries.d file, as a GPG signature (checked
//! against a fixed test key), a signature payload and a cosign signature. Never a panic; a policy that parses writes back (`hoist
//! trust` does) as JSON that parses to the same policy.

use std::path::Path;
use std::sync::OnceLock;

use super::cosign::{self, Attachment};
use super::gpg::{self, Keyring};
use super::payload;
use super::policy::Policy;
use super::registries::Registries;

pub fn policy(data: &[u8]) {
    let path = Path::new("/fuzz/policy.json");
    if let Ok(p) = Policy::parse(data, path, Path::new("/fuzz")) {
        let text = p.to_json().to_string();
        let again = Policy::parse(text.as_bytes(), path, Path::new("/fuzz"))
            .unwrap_or_else(|e| panic!("a parsed policy written back fails: {e}: {text}"));
        assert_eq!(again, p, "a policy does not survive writing back: {text}");
        let _ = super::edit::rows(&p);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Registries::default().merge(text);
    }
    static KEYRING: OnceLock<Option<Keyring>> = OnceLock::new();
    let keyring =
        KEYRING.get_or_init(|| Keyring::parse(&[include_bytes!("testdata/key.asc").to_vec()]).ok());
    if let Some(k) = keyring {
        let _ = gpg::verify(k, data);
    }
    let _ = payload::parse(data, payload::GPG_TYPE);
    let _ = cosign::parse_key(data);
    let a = Attachment {
        payload: data.to_vec(),
        annotations: [(
            cosign::SIGNATURE.to_string(),
            String::from_utf8_lossy(data).into_owned(),
        )]
        .into_iter()
        .collect(),
    };
    let _ = cosign::verify(&[], &a);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus() {
        for c in [
            r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
            r#"{"default":[{"type":"reject"}],"transports":{"docker":{"a.io/b":[{"type":"signedBy","keyType":"GPGKeys","keyPaths":["/k","k2"],"signedIdentity":{"type":"remapIdentity","prefix":"a","signedPrefix":"b"}}]}}}"#,
            r#"{"default":[{"type":"sigstoreSigned","keyDatas":["aGk=","aGk="]}]}"#,
            r#"{"default":[{"type":"sigstoreSigned","keyData":""}]}"#,
            "default-docker: {lookaside: file:///x}",
            "docker: {a.io: {use-sigstore-attachments: yes}}",
            "{",
            "",
        ] {
            policy(c.as_bytes());
        }
    }
}
