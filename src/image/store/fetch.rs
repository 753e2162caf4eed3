//! Copying an image from a source into the store: config, layers and manifest staged
//! and verified, layers unpacked, then everything renamed in and the tag written last.
//! A Docker schema 2 manifest is stored rewritten as OCI (`source::convert`), so the
//! digest printed is the stored manifest's.
//! Until that last step nothing of the image is visible; a refused blob leaves the
//! layout exactly as it was. Layers are downloaded several at a time
//! (`Batch::stage_parallel`), reporting to a [`Progress`].
//!
//! The caller's admission check (the signature policy, `trust`) sees the manifest as
//! the source holds it, before it is converted and before anything is staged: a
//! refused image leaves no trace.
//!
//! (An unpack that fails after the blobs verified, i.e. a malicious layer, may leave
//! the earlier, complete layer directories: they are content-addressed and whole, and
//! the next gc removes them.)

use oci_spec::image::{Descriptor, MediaType};

use super::images::check_layers;
use super::progress::{NoProgress, Progress};
use super::{Store, StoreError};
use crate::image::digest::{Digest, Expected};
use crate::image::reference;
use crate::image::source::compression::Compression;
use crate::image::source::config::ConfigSummary;
use crate::image::source::{
    convert, kind, ImageSource, Kind, Platform, SourceImage, MAX_JSON_BLOB,
};
use crate::trust::TrustError;

/// What a fetch asks its caller to admit before anything is stored.
pub struct Candidate<'a> {
    pub source: &'a dyn ImageSource,
    /// The image manifest as the source holds it: its digest is what signatures sign.
    pub image: &'a SourceImage,
    /// The name the image will be tagged with.
    pub name: &'a str,
}

/// What a fetch did.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub name: String,
    pub digest: Digest,
    /// Blobs copied in, and their bytes.
    pub copied: usize,
    pub copied_bytes: u64,
    /// Blobs the store had already.
    pub present: usize,
}

impl Store {
    /// Fetches the image `source` holds for `platform` and tags it `name` (by
    /// podman's rule for local names), or by the name the source gives it, once
    /// `admit` (the signature policy) accepted it.
    pub fn fetch(
        &self,
        source: &dyn ImageSource,
        platform: &Platform,
        name: Option<&str>,
        admit: &dyn Fn(&Candidate<'_>) -> Result<(), TrustError>,
    ) -> Result<Fetched, StoreError> {
        self.fetch_with(source, platform, name, admit, &NoProgress)
    }

    /// [`Store::fetch`], reporting the blobs' progress to `progress`.
    pub fn fetch_with(
        &self,
        source: &dyn ImageSource,
        platform: &Platform,
        name: Option<&str>,
        admit: &dyn Fn(&Candidate<'_>) -> Result<(), TrustError>,
        progress: &dyn Progress,
    ) -> Result<Fetched, StoreError> {
        let given = name.map(reference::local_name).transpose()?;
        let _lock = self.lock_shared()?;
        let picked = source.manifest(platform)?;
        let name = match given {
            Some(n) => n,
            None => picked
                .name
                .as_ref()
                .ok_or_else(|| StoreError::NoName {
                    what: source.describe(),
                })?
                .store_name()?,
        };
        admit(&Candidate {
            source,
            image: &picked,
            name: &name,
        })?;
        let img = convert::to_oci(picked)?;
        let what = format!("manifest {}", img.digest);
        if kind(&what, &img.media_type)? != Kind::Manifest {
            return Err(StoreError::NotImage {
                what,
                media_type: img.media_type.clone(),
            });
        }
        let config_exp = Expected::of(img.manifest.config())?;
        let mut layers = Vec::new();
        for l in img.manifest.layers() {
            let exp = Expected::of(l)?;
            let media_type = l.media_type().to_string();
            if Compression::of_media_type(&media_type).is_none() {
                return Err(StoreError::LayerMediaType {
                    digest: exp.digest,
                    media_type,
                });
            }
            layers.push(exp);
        }

        let mut batch = self.batch();
        let mut present = 0;
        let mut copy = |batch: &mut super::Batch<'_>, exp: &Expected| {
            let copied = batch.stage(exp, || source.blob(exp).map_err(StoreError::from))?;
            present += usize::from(!copied);
            Ok::<_, StoreError>(())
        };
        copy(&mut batch, &config_exp)?;
        let config_what = format!("config {}", config_exp.digest);
        let config_bytes = batch.read(&config_exp, &config_what, MAX_JSON_BLOB)?;
        let config = ConfigSummary::parse(&config_bytes, &config_what)?;
        check_layers(&img.digest, &img.manifest, &config)?;
        let copied_layers = batch.stage_parallel(
            &layers,
            super::DEFAULT_JOBS,
            |exp| source.blob(exp).map_err(StoreError::from),
            progress,
        )?;
        present += layers.len() - copied_layers;
        let manifest_exp = Expected {
            digest: img.digest.clone(),
            size: img.bytes.len() as u64,
        };
        present += usize::from(!batch.stage_bytes(&manifest_exp, &img.bytes)?);

        self.unpack_layers(img.manifest.layers(), &config.diff_ids, |d| batch.open(d))?;
        let copied_bytes = batch.copied_bytes;
        let copied = batch.commit()?;

        let mut desc = Descriptor::new(
            MediaType::from(img.media_type.as_str()),
            manifest_exp.size,
            &img.digest,
        );
        desc.set_platform(config.platform().or(img.platform));
        self.tag(&name, &desc)?;
        Ok(Fetched {
            name,
            digest: img.digest,
            copied,
            copied_bytes,
            present,
        })
    }
}
