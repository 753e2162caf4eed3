//! Where images come from. Each transport is an [`ImageSource`]: it picks the image
//! manifest for a platform (resolving OCI indexes and Docker manifest lists) and hands
//! out blobs as streams. Sources do not verify blobs themselves; the store does, while
//! it copies them (`store::Batch`). What a source reads to find its way (index.json,
//! manifests) it verifies against the descriptors that name it.
//!
//! Built: `oci:` directories and `oci-archive:` tars ([`oci`]), `docker-archive:` tars
//! ([`archive`]), registries (`docker://` and bare names, [`registry`]). `blob` takes
//! `&self` and returns `Send` readers so that several layers can be pulled at once.

pub mod archive;
pub mod compression;
pub mod config;
pub mod convert;
pub mod files;
pub mod oci;
pub mod platform;
pub mod registry;

use std::io::{self, Read};
use std::path::PathBuf;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use super::digest::{Digest, DigestError, Expected, VerifyingReader};
use super::reference::{self, DockerRef, ImageRef, ReferenceError};
pub use platform::Platform;

/// The most hoist reads of a manifest, an index or a config (containers/image's limit).
pub const MAX_JSON_BLOB: u64 = 4 << 20;
/// How deep indexes may nest (an index.json entry naming an index naming manifests).
const MAX_NESTING: usize = 4;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_SCHEMA1: &[&str] = &[
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];
/// The annotation an OCI layout tags its entries with.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("read `{path}`")]
    Read {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("parse {what}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("`{path}` is not an OCI image layout: {reason}")]
    NotLayout { path: String, reason: String },
    #[error("no image tagged `{tag}` (tags: {tags})")]
    NoSuchTag { tag: String, tags: String },
    #[error("the layout holds no image")]
    NoImage,
    #[error("the layout holds {count} images: name one with :TAG (tags: {tags})")]
    Ambiguous { count: usize, tags: String },
    #[error("no image for {platform} in {what} (it has {available})")]
    NoPlatform {
        what: String,
        platform: Platform,
        available: String,
    },
    #[error("{what}: unsupported media type `{media_type}` (want an OCI or Docker schema 2 manifest or index)")]
    MediaType { what: String, media_type: String },
    #[error("{what}: Docker schema 1 manifests are not supported (convert the image with skopeo)")]
    Schema1 { what: String },
    #[error("{what} is {size} bytes, more than the {MAX_JSON_BLOB} hoist reads")]
    TooLarge { what: String, size: u64 },
    #[error("indexes nested more than {MAX_NESTING} deep")]
    Nesting,
    #[error("blob {digest} is missing from the source")]
    MissingBlob { digest: Digest },
    #[error("read blob {digest}")]
    Blob {
        digest: Digest,
        #[source]
        source: io::Error,
    },
    #[error("docker archive: {reason}")]
    DockerArchive { reason: String },
    #[error(transparent)]
    Registry(#[from] crate::image::registry::RegistryError),
    #[error(transparent)]
    Verify(#[from] DigestError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
}

/// What the image is called where it comes from; the store turns it into its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameHint {
    /// An OCI layout's `ref.name` (a bare tag like `latest`, or a full name).
    Layout(String),
    /// A registry reference or a docker-archive `RepoTags` entry.
    Docker(DockerRef),
}

impl NameHint {
    /// The store name: a registry name as it is, a layout tag by podman's rule
    /// (`localhost/` when it names no registry).
    pub fn store_name(&self) -> Result<String, ReferenceError> {
        match self {
            NameHint::Layout(tag) => reference::local_name(tag),
            NameHint::Docker(r) => Ok(r.to_string()),
        }
    }
}

/// The image manifest a source picked.
#[derive(Clone, Debug)]
pub struct SourceImage {
    /// The manifest as the source holds it (its digest is over these bytes).
    pub bytes: Vec<u8>,
    pub digest: Digest,
    pub media_type: String,
    pub manifest: ImageManifest,
    /// The platform of the index entry it was picked by, if any.
    pub platform: Option<oci_spec::image::Platform>,
    pub name: Option<NameHint>,
    /// The indexes (manifest lists) it was picked through, outermost first. Each was
    /// verified against the descriptor naming it, so a signature over one of them
    /// vouches for this manifest too (`trust`).
    pub parents: Vec<Digest>,
}

/// A place images are read from.
pub trait ImageSource: Send + Sync {
    /// The source as the user named it, for messages.
    fn describe(&self) -> String;
    /// The image manifest for `platform`, indexes and manifest lists resolved.
    fn manifest(&self, platform: &Platform) -> Result<SourceImage, SourceError>;
    /// A blob as a stream, not verified: the reader of it checks digest and size.
    fn blob(&self, blob: &Expected) -> Result<Box<dyn Read + Send + '_>, SourceError>;
    /// Where this source keeps signatures (cosign attachments, http lookasides), for
    /// the signature policy (`trust::store` says what to implement); none by default.
    fn signatures(&self) -> Option<&dyn crate::trust::SignatureStore> {
        None
    }
}

/// Opens the source `r` names, a registry with the host's default settings.
pub fn open(r: &ImageRef) -> Result<Box<dyn ImageSource>, SourceError> {
    open_with(r, &crate::image::registry::Options::default())
}

/// Opens the source `r` names, a registry with the settings `registry` gives.
pub fn open_with(
    r: &ImageRef,
    registry: &crate::image::registry::Options,
) -> Result<Box<dyn ImageSource>, SourceError> {
    let source_name = r.to_string();
    Ok(match r {
        ImageRef::Docker(d) => Box::new(registry::RegistrySource::open(d, registry, source_name)?),
        ImageRef::Oci { dir, tag } => {
            Box::new(oci::OciLayout::open_dir(dir, tag.clone(), source_name)?)
        }
        ImageRef::OciArchive { file, tag } => Box::new(oci::OciLayout::open_archive(
            file,
            tag.clone(),
            source_name,
        )?),
        ImageRef::DockerArchive { file, name } => Box::new(archive::DockerArchive::open(
            file,
            name.as_ref(),
            source_name,
        )?),
    })
}

/// What kind of document a manifest media type names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Manifest,
    Index,
}

/// Classifies a manifest media type (OCI and Docker schema 2).
pub fn kind(what: &str, media_type: &str) -> Result<Kind, SourceError> {
    match media_type {
        OCI_MANIFEST | DOCKER_MANIFEST => Ok(Kind::Manifest),
        OCI_INDEX | DOCKER_LIST => Ok(Kind::Index),
        m if DOCKER_SCHEMA1.contains(&m) => Err(SourceError::Schema1 { what: what.into() }),
        m => Err(SourceError::MediaType {
            what: what.into(),
            media_type: m.into(),
        }),
    }
}

/// Reads a small JSON blob from `source`, verified against its descriptor.
pub fn read_json_blob(
    source: &dyn ImageSource,
    exp: &Expected,
    what: &str,
) -> Result<Vec<u8>, SourceError> {
    if exp.size > MAX_JSON_BLOB {
        return Err(SourceError::TooLarge {
            what: what.into(),
            size: exp.size,
        });
    }
    let r = source.blob(exp)?;
    let mut out = Vec::new();
    VerifyingReader::new(r, exp.clone())
        .read_to_end(&mut out)
        .map_err(|e| match DigestError::from_io(&e) {
            Some(d) => SourceError::Verify(d.clone()),
            None => SourceError::Blob {
                digest: exp.digest.clone(),
                source: e,
            },
        })?;
    Ok(out)
}

/// Follows `desc` to an image manifest: an index or a manifest list is resolved by
/// `platform`, as deep as [`MAX_NESTING`].
pub fn resolve(
    source: &dyn ImageSource,
    desc: Descriptor,
    platform: &Platform,
    name: Option<NameHint>,
) -> Result<SourceImage, SourceError> {
    resolve_with(desc, platform, name, |exp, what| {
        read_json_blob(source, exp, what)
    })
}

/// [`resolve`] for sources that keep manifests apart from blobs (registries):
/// `read` returns the manifest or index a descriptor names, verified against it.
pub fn resolve_with(
    mut desc: Descriptor,
    platform: &Platform,
    name: Option<NameHint>,
    read: impl Fn(&Expected, &str) -> Result<Vec<u8>, SourceError>,
) -> Result<SourceImage, SourceError> {
    let mut picked_platform = desc.platform().clone();
    let mut parents = Vec::new();
    for _ in 0..MAX_NESTING {
        let exp = Expected::of(&desc)?;
        let what = format!("manifest {}", exp.digest);
        let bytes = read(&exp, &what)?;
        let media_type = effective_media_type(&desc, &bytes);
        match kind(&what, &media_type)? {
            Kind::Manifest => {
                let manifest: ImageManifest =
                    serde_json::from_slice(&bytes).map_err(|source| SourceError::Json {
                        what: what.clone(),
                        source,
                    })?;
                return Ok(SourceImage {
                    bytes,
                    digest: exp.digest,
                    media_type,
                    manifest,
                    platform: picked_platform,
                    name,
                    parents,
                });
            }
            Kind::Index => {
                let what = format!("index {}", exp.digest);
                let index: ImageIndex =
                    serde_json::from_slice(&bytes).map_err(|source| SourceError::Json {
                        what: what.clone(),
                        source,
                    })?;
                desc = pick_platform(&what, index.manifests(), platform)?;
                picked_platform = desc.platform().clone();
                parents.push(exp.digest);
            }
        }
    }
    Err(SourceError::Nesting)
}

/// A descriptor's media type, or, when it gives none usable, the document's own.
fn effective_media_type(desc: &Descriptor, bytes: &[u8]) -> String {
    let declared = desc.media_type().to_string();
    if !declared.is_empty() {
        return declared;
    }
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    serde_json::from_slice::<Probe>(bytes)
        .ok()
        .and_then(|p| p.media_type)
        .unwrap_or_default()
}

/// The first index entry for `platform`. Entries without a platform are not images
/// for anyone (attestations) unless the index has nothing else.
pub fn pick_platform(
    what: &str,
    entries: &[Descriptor],
    platform: &Platform,
) -> Result<Descriptor, SourceError> {
    if let Some(d) = entries
        .iter()
        .find(|d| d.platform().as_ref().is_some_and(|p| platform.matches(p)))
    {
        return Ok(d.clone());
    }
    if let [only] = entries {
        if only.platform().is_none() {
            return Ok(only.clone());
        }
    }
    let available: Vec<String> = entries
        .iter()
        .filter_map(|d| d.platform().as_ref().map(platform::describe))
        .collect();
    Err(SourceError::NoPlatform {
        what: what.into(),
        platform: platform.clone(),
        available: if available.is_empty() {
            "no platforms".into()
        } else {
            available.join(", ")
        },
    })
}

/// A descriptor's `ref.name`, if tagged.
pub fn ref_name(d: &Descriptor) -> Option<&str> {
    d.annotations()
        .as_ref()
        .and_then(|a| a.get(REF_NAME))
        .map(String::as_str)
}

/// A path for messages.
fn shown(p: &std::path::Path) -> String {
    p.display().to_string()
}

/// Maps an I/O error reading a source file to a [`SourceError`].
fn read_error(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> SourceError {
    let path = shown(&path.into());
    move |source| SourceError::Read { path, source }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::{Arch, MediaType, Os, PlatformBuilder};

    fn entry(arch: Option<&str>) -> Descriptor {
        let mut d = Descriptor::new(MediaType::ImageManifest, 1, &Digest::of(b"x"));
        if let Some(a) = arch {
            d.set_platform(Some(
                PlatformBuilder::default()
                    .os(Os::Linux)
                    .architecture(Arch::from(a))
                    .build()
                    .unwrap(),
            ));
        }
        d
    }

    #[test]
    fn kinds() {
        assert_eq!(kind("m", OCI_MANIFEST).unwrap(), Kind::Manifest);
        assert_eq!(kind("m", DOCKER_MANIFEST).unwrap(), Kind::Manifest);
        assert_eq!(kind("m", OCI_INDEX).unwrap(), Kind::Index);
        assert_eq!(kind("m", DOCKER_LIST).unwrap(), Kind::Index);
        assert!(matches!(
            kind("m", DOCKER_SCHEMA1[0]),
            Err(SourceError::Schema1 { .. })
        ));
        let e = kind("manifest x", "text/plain").unwrap_err();
        assert!(e.to_string().contains("`text/plain`"), "{e}");
    }

    #[test]
    fn picks_platforms() {
        let amd = Platform::parse("linux/amd64").unwrap();
        let arm = Platform::parse("linux/arm64").unwrap();
        let es = [entry(None), entry(Some("arm64")), entry(Some("amd64"))];
        assert_eq!(
            pick_platform("i", &es, &amd)
                .unwrap()
                .platform()
                .as_ref()
                .unwrap()
                .architecture(),
            &Arch::Amd64
        );
        assert_eq!(
            pick_platform("i", &es, &arm)
                .unwrap()
                .platform()
                .as_ref()
                .unwrap()
                .architecture(),
            &Arch::ARM64
        );
        let e =
            pick_platform("index x", &es, &Platform::parse("linux/s390x").unwrap()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no image for linux/s390x in index x (it has linux/arm64, linux/amd64)"
        );
        assert!(pick_platform("i", &[entry(None)], &amd).is_ok());
        assert!(pick_platform("i", &[], &amd).is_err());
    }

    #[test]
    fn name_hints() {
        assert_eq!(
            NameHint::Layout("latest".into()).store_name().unwrap(),
            "localhost/latest:latest"
        );
        assert_eq!(
            NameHint::Docker(DockerRef::parse("busybox").unwrap())
                .store_name()
                .unwrap(),
            "docker.io/library/busybox:latest"
        );
    }
}
