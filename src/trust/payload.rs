//! The simple-signing payload both signature kinds carry (containers-signature(5)):
//!
//! ```json
//! {"critical": {"type": "atomic container signature",
//!               "image": {"docker-manifest-digest": "sha256:…"},
//!               "identity": {"docker-reference": "example.com/app:1"}},
//!  "optional": {"creator": "…", "timestamp": 1700000000}}
//! ```
//!
//! GPG signatures carry `atomic container signature`; cosign ones `cosign container
//! image signature`. The `critical` part is parsed strictly: an unknown field there is
//! a signature hoist does not understand, and refused.

use serde::Deserialize;

/// `critical.type` of a GPG simple signature.
pub const GPG_TYPE: &str = "atomic container signature";
/// `critical.type` of a cosign signature payload.
pub const COSIGN_TYPE: &str = "cosign container image signature";
/// The most hoist reads of one signature or payload.
pub const MAX_SIGNATURE: u64 = 4 << 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    critical: Critical,
    #[serde(default)]
    #[allow(dead_code)]
    optional: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Critical {
    #[serde(rename = "type")]
    kind: String,
    image: Image,
    identity: Identity,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    digest: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Identity {
    #[serde(rename = "docker-reference")]
    reference: String,
}

/// What a payload claims: a manifest digest and the reference it is known by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub digest: String,
    pub reference: String,
}

/// Parses a payload of kind `want` (`GPG_TYPE` or `COSIGN_TYPE`).
pub fn parse(bytes: &[u8], want: &str) -> Result<Claim, String> {
    let raw: Raw = serde_json::from_slice(bytes).map_err(|e| format!("payload: {e}"))?;
    if raw.critical.kind != want {
        return Err(format!(
            "payload type `{}` (want `{want}`)",
            raw.critical.kind
        ));
    }
    Ok(Claim {
        digest: raw.critical.image.digest,
        reference: raw.critical.identity.reference,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_payloads() {
        let ok = br#"{"critical":{"identity":{"docker-reference":"example.com/a:1"},"image":{"docker-manifest-digest":"sha256:00"},"type":"atomic container signature"},"optional":{"creator":"x"}}"#;
        assert_eq!(
            parse(ok, GPG_TYPE).unwrap(),
            Claim {
                digest: "sha256:00".into(),
                reference: "example.com/a:1".into()
            }
        );
        assert!(parse(ok, COSIGN_TYPE).unwrap_err().contains("payload type"));
        let extra = br#"{"critical":{"identity":{"docker-reference":"a"},"image":{"docker-manifest-digest":"b"},"type":"atomic container signature","x":1}}"#;
        assert!(parse(extra, GPG_TYPE)
            .unwrap_err()
            .contains("unknown field"));
        assert!(parse(b"not json", GPG_TYPE).is_err());
    }
}
