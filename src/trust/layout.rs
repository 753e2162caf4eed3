//! The OCI layout source (`oci:`, `oci-archive:`) as a [`SignatureStore`]: cosign
//! signatures are images in the same layout tagged `sha256-<hex>.sig` (what `cosign
//! save` and `skopeo copy` of a signed image's `.sig` tag leave there), read from its
//! index.json and blobs like any other image.

use std::io::Read;

use super::store::{http_unsupported, SignatureStore};
use crate::image::digest::Expected;
use crate::image::source::oci::OciLayout;
use crate::image::source::{read_json_blob, ref_name, ImageSource, SourceError};

impl SignatureStore for OciLayout {
    fn lookaside(&self, url: &str) -> Result<Option<Vec<u8>>, SourceError> {
        Err(http_unsupported(url))
    }

    fn tagged_manifest(&self, tag: &str) -> Result<Option<Vec<u8>>, SourceError> {
        let index = self.index()?;
        let Some(desc) = index.manifests().iter().find(|d| ref_name(d) == Some(tag)) else {
            return Ok(None);
        };
        let exp = Expected::of(desc)?;
        read_json_blob(self, &exp, &format!("signature manifest {}", exp.digest)).map(Some)
    }

    fn attachment_blob(&self, blob: &Expected) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        self.blob(blob)
    }
}
