//! The bodies of the `reference` and `manifest` fuzz targets (fuzz/fuzz_targets/),
//! public so that cargo-fuzz calls them and `cargo test` runs them over a fixed corpus.
//!
//! - [`reference`]: arbitrary text as an image reference, a store name and a policy
//!   scope. Never a panic; a reference that parses prints as text that parses back
//!   to the same reference.
//! - [`manifest`]: arbitrary bytes as a manifest or index (the media type picked by the
//!   first byte) resolved by platform from an in-memory source, converted to OCI, and
//!   as an image config. Never a panic; a resolved image is an image manifest whose
//!   digest is that of the bytes it holds.

use std::io::Read;

use oci_spec::image::{Descriptor, MediaType};

use super::digest::{Digest, Expected};
use super::reference::{self, DockerRef, ImageRef};
use super::source::config::ConfigSummary;
use super::source::{
    convert, resolve, ImageSource, Platform, SourceError, SourceImage, DOCKER_LIST,
    DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST,
};

/// Arbitrary text as a reference.
pub fn reference(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = ImageRef::parse(text) {
        let shown = r.to_string();
        let again = ImageRef::parse(&shown)
            .unwrap_or_else(|e| panic!("`{text}` printed as `{shown}`, which fails: {e}"));
        assert_eq!(again, r, "`{text}` does not survive printing as `{shown}`");
    }
    if let Ok(d) = DockerRef::parse(text) {
        let shown = d.to_string();
        assert_eq!(
            DockerRef::parse(&shown).ok(),
            Some(d.clone()),
            "`{text}` → `{shown}`"
        );
        let scopes = crate::trust::scope::docker_scopes(&d);
        assert_eq!(scopes.first(), Some(&shown));
        for s in &scopes {
            // Every scope hoist derives is one a policy may name.
            if !s.starts_with("*.") {
                assert_eq!(crate::trust::scope::check_docker_scope(s), Ok(()), "{s}");
            }
        }
    }
    let _ = DockerRef::parse_local(text);
    let _ = reference::local_name(text);
    let _ = reference::lookup_names(text);
    let _ = crate::trust::scope::check_docker_scope(text);
}

/// A source holding one blob.
struct OneBlob {
    bytes: Vec<u8>,
    digest: Digest,
}

impl ImageSource for OneBlob {
    fn describe(&self) -> String {
        "fuzz".into()
    }

    fn manifest(&self, _platform: &Platform) -> Result<SourceImage, SourceError> {
        Err(SourceError::NoImage)
    }

    fn blob(&self, blob: &Expected) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        if blob.digest == self.digest {
            Ok(Box::new(self.bytes.as_slice()))
        } else {
            Err(SourceError::MissingBlob {
                digest: blob.digest.clone(),
            })
        }
    }
}

/// Arbitrary bytes as a manifest or an index.
pub fn manifest(data: &[u8]) {
    let media_type = match data.first().map(|b| b % 5) {
        Some(0) => OCI_MANIFEST,
        Some(1) => OCI_INDEX,
        Some(2) => DOCKER_MANIFEST,
        Some(3) => DOCKER_LIST,
        _ => "",
    };
    let body = data.get(1..).unwrap_or_default();
    let digest = Digest::of(body);
    let desc = Descriptor::new(MediaType::from(media_type), body.len() as u64, &digest);
    let source = OneBlob {
        bytes: body.to_vec(),
        digest: digest.clone(),
    };
    for platform in ["linux/amd64", "linux/arm64/v8"] {
        let Ok(p) = Platform::parse(platform) else {
            continue;
        };
        if let Ok(img) = resolve(&source, desc.clone(), &p, None) {
            assert_eq!(img.digest, Digest::of(&img.bytes));
            if let Ok(oci) = convert::to_oci(img) {
                assert_eq!(
                    oci.digest,
                    Digest::of(&oci.bytes),
                    "a converted manifest's digest"
                );
            }
        }
    }
    if let Ok(c) = ConfigSummary::parse(body, "fuzz config") {
        let _ = c.platform();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus() {
        let refs = [
            "busybox",
            "docker://example.com:5000/a/b:c",
            "oci:/x:y",
            "oci-archive:/a.tar",
            "docker-archive:/a.tar:b:c",
            "a@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "docker.io/library",
            "localhost/x",
            ":",
            "oci:",
            "UPPER/case",
            "a//b",
        ];
        for r in refs {
            reference(r.as_bytes());
        }
        // The fuzzer's find: short enough as typed, too long once normalised.
        reference(format!("z2/{}", "1".repeat(250)).as_bytes());
        let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#;
        for first in 0..6u8 {
            let mut d = vec![first];
            d.extend_from_slice(m);
            manifest(&d);
            manifest(&d[..d.len() / 2]);
        }
        manifest(br#"{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"sha256:00","size":-1}]}"#);
        manifest(b"");
    }
}
