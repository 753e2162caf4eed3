//! The few fields of an image config (OCI or Docker: the same JSON) that fetching,
//! listing and gc need. Read leniently: whatever else a config holds is kept as bytes
//! and shown by `image inspect` as it is.

use serde::Deserialize;

use super::SourceError;
use crate::image::digest::Digest;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigSummary {
    pub os: Option<String>,
    pub architecture: Option<String>,
    pub variant: Option<String>,
    pub created: Option<String>,
    /// The digests of the uncompressed layers, base first.
    pub diff_ids: Vec<Digest>,
}

#[derive(Deserialize)]
struct Raw {
    os: Option<String>,
    architecture: Option<String>,
    variant: Option<String>,
    created: Option<String>,
    rootfs: Option<RawRootfs>,
}

#[derive(Deserialize)]
struct RawRootfs {
    #[serde(default)]
    diff_ids: Option<Vec<String>>,
}

impl ConfigSummary {
    /// Parses a config; `what` names it in errors (`config sha256:…`).
    pub fn parse(bytes: &[u8], what: &str) -> Result<ConfigSummary, SourceError> {
        let raw: Raw = serde_json::from_slice(bytes).map_err(|source| SourceError::Json {
            what: what.into(),
            source,
        })?;
        let diff_ids = raw
            .rootfs
            .and_then(|r| r.diff_ids)
            .unwrap_or_default()
            .iter()
            .map(|d| Digest::parse(d))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ConfigSummary {
            os: raw.os,
            architecture: raw.architecture,
            variant: raw.variant,
            created: raw.created,
            diff_ids,
        })
    }

    /// The config's platform as an index entry would give it.
    pub fn platform(&self) -> Option<oci_spec::image::Platform> {
        let (os, arch) = (self.os.as_deref()?, self.architecture.as_deref()?);
        let mut p = oci_spec::image::Platform::default();
        p.set_os(os.into());
        p.set_architecture(arch.into());
        p.set_variant(self.variant.clone());
        Some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_and_oci_configs() {
        let d = Digest::of(b"layer");
        let c = ConfigSummary::parse(
            format!(
                r#"{{"architecture":"amd64","os":"linux","config":{{"Env":["A=b"]}},
                   "rootfs":{{"type":"layers","diff_ids":["{d}"]}},"created":"2024-01-01T00:00:00Z",
                   "container_config":{{"Hostname":"x"}}}}"#
            )
            .as_bytes(),
            "config x",
        )
        .unwrap();
        assert_eq!(c.diff_ids, [d]);
        assert_eq!(c.os.as_deref(), Some("linux"));
        let p = c.platform().unwrap();
        assert_eq!(p.architecture().to_string(), "amd64");
        assert_eq!(
            ConfigSummary::parse(b"{}", "c").unwrap(),
            ConfigSummary::default()
        );
    }

    #[test]
    fn refuses_bad_configs() {
        let e = ConfigSummary::parse(b"[]", "config sha256:x").unwrap_err();
        assert!(e.to_string().contains("config sha256:x"), "{e}");
        let e = ConfigSummary::parse(br#"{"rootfs":{"diff_ids":["md5:00"]}}"#, "c").unwrap_err();
        assert!(e.to_string().contains("md5"), "{e}");
    }
}
