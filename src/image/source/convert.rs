//! Docker schema 2 manifests rewritten as OCI manifests, as `skopeo copy` does when it
//! writes an OCI layout: the store's layout must hold what skopeo and umoci read
//! (containers/image 5.x skips index entries that are not OCI manifests or indexes).
//! Only media types change; config and layers are the same blobs, so the rewritten
//! manifest has a new digest and everything it names is unchanged. The rewrite is
//! deterministic: the same source manifest always gives the same bytes.

use oci_spec::image::{Descriptor, ImageManifest, MediaType};

use super::{SourceError, SourceImage, DOCKER_MANIFEST, OCI_MANIFEST};
use crate::image::digest::Digest;

const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// The OCI media type for a Docker one (OCI and unknown ones are kept).
fn oci_media_type(m: &str) -> MediaType {
    match m {
        DOCKER_CONFIG => MediaType::ImageConfig,
        "application/vnd.docker.image.rootfs.diff.tar.gzip" => MediaType::ImageLayerGzip,
        "application/vnd.docker.image.rootfs.diff.tar" => MediaType::ImageLayer,
        "application/vnd.docker.image.rootfs.diff.tar.zstd" => MediaType::ImageLayerZstd,
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
            MediaType::ImageLayerNonDistributableGzip
        }
        other => MediaType::from(other),
    }
}

fn convert_descriptor(d: &Descriptor) -> Descriptor {
    let mut d = d.clone();
    d.set_media_type(oci_media_type(d.media_type().as_ref()));
    d
}

/// `img` as the store keeps it: an OCI manifest as it is, a Docker schema 2 manifest
/// rewritten as OCI.
pub fn to_oci(img: SourceImage) -> Result<SourceImage, SourceError> {
    if img.media_type != DOCKER_MANIFEST {
        return Ok(img);
    }
    let mut m: ImageManifest = img.manifest.clone();
    m.set_media_type(Some(MediaType::ImageManifest));
    m.set_config(convert_descriptor(img.manifest.config()));
    m.set_layers(
        img.manifest
            .layers()
            .iter()
            .map(convert_descriptor)
            .collect(),
    );
    let bytes = serde_json::to_vec(&m).map_err(|source| SourceError::Json {
        what: format!("manifest {} rewritten as OCI", img.digest),
        source,
    })?;
    Ok(SourceImage {
        digest: Digest::of(&bytes),
        bytes,
        media_type: OCI_MANIFEST.into(),
        manifest: m,
        ..img
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docker_image() -> SourceImage {
        let c = Digest::of(b"config");
        let l = Digest::of(b"layer");
        let bytes = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}",
            "config":{{"mediaType":"{DOCKER_CONFIG}","digest":"{c}","size":6}},
            "layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"{l}","size":5}}]}}"#
        )
        .into_bytes();
        SourceImage {
            digest: Digest::of(&bytes),
            manifest: serde_json::from_slice(&bytes).unwrap(),
            bytes,
            media_type: DOCKER_MANIFEST.into(),
            platform: None,
            name: None,
            parents: Vec::new(),
        }
    }

    #[test]
    fn rewrites_docker_media_types() {
        let src = docker_image();
        let oci = to_oci(src.clone()).unwrap();
        assert_eq!(oci.media_type, OCI_MANIFEST);
        assert_ne!(oci.digest, src.digest);
        assert_eq!(oci.digest, Digest::of(&oci.bytes));
        let v: serde_json::Value = serde_json::from_slice(&oci.bytes).unwrap();
        assert_eq!(v["mediaType"], OCI_MANIFEST);
        assert_eq!(
            v["config"]["mediaType"],
            "application/vnd.oci.image.config.v1+json"
        );
        assert_eq!(v["config"]["digest"], Digest::of(b"config").to_string());
        assert_eq!(
            v["layers"][0]["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        assert_eq!(to_oci(src).unwrap().bytes, oci.bytes, "deterministic");
    }

    #[test]
    fn keeps_oci_manifests() {
        let mut img = docker_image();
        img.media_type = OCI_MANIFEST.into();
        let out = to_oci(img.clone()).unwrap();
        assert_eq!(out.bytes, img.bytes);
    }
}
