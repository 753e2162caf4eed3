//! Tagged images: index.json entries with an `org.opencontainers.image.ref.name`, how
//! a user's name finds one (full name, short name, `sha256:` digest), and tagging and
//! untagging them.

use std::collections::HashMap;
use std::path::PathBuf;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use super::{Store, StoreError};
use crate::image::digest::{Digest, Expected};
use crate::image::reference;
use crate::image::source::config::ConfigSummary;
use crate::image::source::{kind, ref_name, Kind, MAX_JSON_BLOB, REF_NAME};

/// A tag of the store and the manifest it names.
#[derive(Clone, Debug)]
pub struct ImageEntry {
    pub name: String,
    pub descriptor: Descriptor,
}

/// A tagged image, its manifest and config read (and verified) from the store.
#[derive(Clone, Debug)]
pub struct Image {
    pub name: String,
    pub descriptor: Descriptor,
    pub digest: Digest,
    pub manifest_bytes: Vec<u8>,
    pub manifest: ImageManifest,
    pub config_bytes: Vec<u8>,
    pub config: ConfigSummary,
}

fn tagged(index: &ImageIndex) -> impl Iterator<Item = (&str, &Descriptor)> {
    index
        .manifests()
        .iter()
        .filter_map(|d| ref_name(d).map(|n| (n, d)))
}

/// What a user's `name` picks in `index`: by digest, by the names it may stand for
/// (`busybox` is `docker.io/library/busybox:latest`, else `localhost/busybox:latest`),
/// or as written.
fn find(index: &ImageIndex, name: &str) -> Result<Option<ImageEntry>, StoreError> {
    let entry = |(n, d): (&str, &Descriptor)| ImageEntry {
        name: n.to_owned(),
        descriptor: d.clone(),
    };
    if name.starts_with("sha256:") {
        let digest = Digest::parse(name)?;
        return Ok(tagged(index)
            .find(|(_, d)| Digest::try_from(d.digest()).ok().as_ref() == Some(&digest))
            .map(entry));
    }
    let names = reference::lookup_names(name);
    for candidate in names.iter().flatten() {
        if let Some(e) = tagged(index).find(|(n, _)| n == candidate) {
            return Ok(Some(entry(e)));
        }
    }
    if let Some(e) = tagged(index).find(|(n, _)| *n == name) {
        return Ok(Some(entry(e)));
    }
    names.map(|_| None).map_err(Into::into)
}

impl Store {
    /// Every tag, sorted by name.
    pub fn list(&self) -> Result<Vec<ImageEntry>, StoreError> {
        let index = self.read_index()?;
        let mut out: Vec<ImageEntry> = tagged(&index)
            .map(|(n, d)| ImageEntry {
                name: n.to_owned(),
                descriptor: d.clone(),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The tag `name` means.
    pub fn resolve(&self, name: &str) -> Result<ImageEntry, StoreError> {
        find(&self.read_index()?, name)?.ok_or_else(|| StoreError::UnknownImage {
            name: name.to_owned(),
        })
    }

    /// Reads an image's manifest and config.
    pub fn load(&self, entry: &ImageEntry) -> Result<Image, StoreError> {
        let exp = Expected::of(&entry.descriptor)?;
        let what = format!("manifest {}", exp.digest);
        let media_type = entry.descriptor.media_type().to_string();
        if kind(&what, &media_type)? != Kind::Manifest {
            return Err(StoreError::NotImage { what, media_type });
        }
        let manifest_bytes = self.read_blob(&exp, &what, MAX_JSON_BLOB)?;
        let manifest: ImageManifest =
            serde_json::from_slice(&manifest_bytes).map_err(|source| StoreError::Json {
                what: what.clone(),
                source,
            })?;
        let config_exp = Expected::of(manifest.config())?;
        let config_what = format!("config {}", config_exp.digest);
        let config_bytes = self.read_blob(&config_exp, &config_what, MAX_JSON_BLOB)?;
        let config = ConfigSummary::parse(&config_bytes, &config_what)?;
        check_layers(&exp.digest, &manifest, &config)?;
        Ok(Image {
            name: entry.name.clone(),
            descriptor: entry.descriptor.clone(),
            digest: exp.digest,
            manifest_bytes,
            manifest,
            config_bytes,
            config,
        })
    }

    /// The image `name` means, read.
    pub fn image(&self, name: &str) -> Result<Image, StoreError> {
        self.load(&self.resolve(name)?)
    }

    /// The image's layer directories, base first; layers whose directory is gone are
    /// unpacked again from their blobs. Hold [`Store::lock_shared`] while using them.
    pub fn layer_dirs(&self, image: &Image) -> Result<Vec<PathBuf>, StoreError> {
        self.unpack_layers(image.manifest.layers(), &image.config.diff_ids, |d| {
            self.open_blob(d)
        })
    }

    /// Points tag `name` at `desc` (a manifest descriptor), in place if the tag exists.
    pub fn tag(&self, name: &str, desc: &Descriptor) -> Result<(), StoreError> {
        let mut desc = desc.clone();
        let mut annotations = desc.annotations().clone().unwrap_or_default();
        annotations.insert(REF_NAME.to_owned(), name.to_owned());
        desc.set_annotations(Some(annotations));
        self.update_index(|index| {
            let mut entries = index.manifests().clone();
            match entries.iter().position(|d| ref_name(d) == Some(name)) {
                Some(i) => entries[i] = desc,
                None => entries.push(desc),
            }
            index.set_manifests(entries);
            Ok(())
        })
    }

    /// Removes the tags `names` mean (a digest removes every tag of that manifest);
    /// all or nothing. Blobs stay until `gc`. Returns the tags removed.
    pub fn remove(&self, names: &[String]) -> Result<Vec<String>, StoreError> {
        self.update_index(|index| {
            let mut gone: HashMap<String, ()> = HashMap::new();
            for name in names {
                let e = find(index, name)?
                    .ok_or_else(|| StoreError::UnknownImage { name: name.clone() })?;
                if name.starts_with("sha256:") {
                    for (n, d) in tagged(index) {
                        if d.digest() == e.descriptor.digest() {
                            gone.insert(n.to_owned(), ());
                        }
                    }
                } else {
                    gone.insert(e.name, ());
                }
            }
            let mut kept = index.manifests().clone();
            kept.retain(|d| !ref_name(d).is_some_and(|n| gone.contains_key(n)));
            index.set_manifests(kept);
            let mut out: Vec<String> = gone.into_keys().collect();
            out.sort();
            Ok(out)
        })
    }
}

/// A manifest's layers and its config's diff_ids must pair up.
pub(super) fn check_layers(
    digest: &Digest,
    manifest: &ImageManifest,
    config: &ConfigSummary,
) -> Result<(), StoreError> {
    if manifest.layers().len() != config.diff_ids.len() {
        return Err(StoreError::LayerCount {
            digest: digest.clone(),
            layers: manifest.layers().len(),
            diff_ids: config.diff_ids.len(),
        });
    }
    Ok(())
}
