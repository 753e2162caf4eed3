//! `docker-archive:FILE[:REPO:TAG]`: what `docker save` and `skopeo copy … docker-archive:`
//! write. `manifest.json` lists images as `{Config, RepoTags, Layers}` with paths into
//! the tar; the layers are (normally uncompressed) tars whose digests are the config's
//! diff_ids.
//!
//! The image is converted, not copied: hoist writes an OCI manifest naming the config
//! as it is and each layer file as it is, with the OCI layer media type its first bytes
//! call for (`…tar`, `…tar+gzip`, `…tar+zstd`). An uncompressed layer's digest is its
//! diff_id, checked while the store copies it; a compressed one is hashed here first.
//! The same archive always converts to the same manifest, so a second fetch finds
//! everything in place.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::Path;

use oci_spec::image::{Descriptor, ImageManifestBuilder, MediaType};

use super::compression::Compression;
use super::config::ConfigSummary;
use super::files::{FileTree, TarTree};
use super::{
    read_error, ImageSource, NameHint, Platform, SourceError, SourceImage, MAX_JSON_BLOB,
    OCI_MANIFEST,
};
use crate::image::digest::{Digest, Expected, HashingWriter};
use crate::image::reference::DockerRef;

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ArchiveEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

pub struct DockerArchive {
    files: TarTree,
    source_name: String,
    image: SourceImage,
    /// Where each blob of the converted image is in the archive.
    blobs: HashMap<Digest, String>,
}

impl DockerArchive {
    /// Indexes the archive, picks the image (`name`, or the only one) and converts it.
    pub fn open(
        file: &Path,
        name: Option<&DockerRef>,
        source_name: String,
    ) -> Result<DockerArchive, SourceError> {
        let files = TarTree::index(file).map_err(read_error(file))?;
        let fail = |reason: String| SourceError::DockerArchive { reason };
        let listing = read_file(&files, "manifest.json", MAX_JSON_BLOB)
            .map_err(|e| fail(format!("manifest.json: {e}")))?;
        let entries: Vec<ArchiveEntry> =
            serde_json::from_slice(&listing).map_err(|source| SourceError::Json {
                what: "manifest.json".into(),
                source,
            })?;
        let (entry, hint) = select(&entries, name).map_err(fail)?;

        let config = read_file(&files, &entry.config, MAX_JSON_BLOB)
            .map_err(|e| fail(format!("config `{}`: {e}", entry.config)))?;
        let config_digest = Digest::of(&config);
        let summary = ConfigSummary::parse(&config, &format!("config `{}`", entry.config))?;
        if summary.diff_ids.len() != entry.layers.len() {
            return Err(fail(format!(
                "{} layers but its config lists {} diff_ids",
                entry.layers.len(),
                summary.diff_ids.len()
            )));
        }
        let mut blobs = HashMap::new();
        blobs.insert(config_digest.clone(), entry.config.clone());
        let mut layers = Vec::new();
        for (path, diff_id) in entry.layers.iter().zip(&summary.diff_ids) {
            let (digest, size, compression) = describe_layer(&files, path, diff_id)
                .map_err(|e| fail(format!("layer `{path}`: {e}")))?;
            layers.push(Descriptor::new(
                MediaType::from(compression.oci_layer_media_type()),
                size,
                &digest,
            ));
            blobs.insert(digest, path.clone());
        }
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(Descriptor::new(
                MediaType::ImageConfig,
                config.len() as u64,
                &config_digest,
            ))
            .layers(layers)
            .build()
            .map_err(|e| fail(format!("build manifest: {e}")))?;
        let bytes = serde_json::to_vec(&manifest).map_err(|source| SourceError::Json {
            what: "converted manifest".into(),
            source,
        })?;
        let image = SourceImage {
            digest: Digest::of(&bytes),
            bytes,
            media_type: OCI_MANIFEST.into(),
            manifest,
            platform: summary.platform(),
            name: hint,
            parents: Vec::new(),
        };
        Ok(DockerArchive {
            files,
            source_name,
            image,
            blobs,
        })
    }
}

/// The archive entry for `name`, or the only one; and the name it goes by.
fn select<'a>(
    entries: &'a [ArchiveEntry],
    name: Option<&DockerRef>,
) -> Result<(&'a ArchiveEntry, Option<NameHint>), String> {
    let tags_of = |e: &ArchiveEntry| -> Vec<DockerRef> {
        e.repo_tags
            .iter()
            .flatten()
            .filter_map(|t| DockerRef::parse(t).ok())
            .collect()
    };
    let all_tags = || {
        let t: Vec<String> = entries
            .iter()
            .flat_map(tags_of)
            .map(|t| t.to_string())
            .collect();
        if t.is_empty() {
            "none".to_string()
        } else {
            t.join(", ")
        }
    };
    match name {
        Some(want) => entries
            .iter()
            .find(|e| tags_of(e).iter().any(|t| t == want))
            .map(|e| (e, Some(NameHint::Docker(want.clone()))))
            .ok_or_else(|| format!("no image tagged `{want}` (tags: {})", all_tags())),
        None => match entries {
            [] => Err("manifest.json lists no image".into()),
            [only] => Ok((only, tags_of(only).into_iter().next().map(NameHint::Docker))),
            many => Err(format!(
                "holds {} images: name one with :REPO:TAG (tags: {})",
                many.len(),
                all_tags()
            )),
        },
    }
}

fn read_file(files: &TarTree, path: &str, limit: u64) -> io::Result<Vec<u8>> {
    let (r, size) = files.open(path)?;
    if size > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{size} bytes, more than the {limit} hoist reads"),
        ));
    }
    let mut out = Vec::new();
    r.take(limit).read_to_end(&mut out)?;
    Ok(out)
}

/// A layer's digest, size and compression. An uncompressed layer is what its diff_id
/// names (the store checks that while copying); a compressed one is hashed now.
fn describe_layer(
    files: &TarTree,
    path: &str,
    diff_id: &Digest,
) -> io::Result<(Digest, u64, Compression)> {
    let (mut r, size) = files.open(path)?;
    let mut head = [0u8; 4];
    let mut got = 0;
    while got < head.len() {
        match r.read(&mut head[got..])? {
            0 => break,
            n => got += n,
        }
    }
    let compression = Compression::sniff(&head[..got]);
    if compression == Compression::None {
        return Ok((diff_id.clone(), size, compression));
    }
    let mut w = HashingWriter::new(io::sink());
    io::Write::write_all(&mut w, &head[..got])?;
    io::copy(&mut r, &mut w)?;
    let (_, digest, n) = w.finish();
    Ok((digest, n, compression))
}

impl ImageSource for DockerArchive {
    fn describe(&self) -> String {
        self.source_name.clone()
    }

    fn manifest(&self, _platform: &Platform) -> Result<SourceImage, SourceError> {
        // An archive holds one platform; what it is shows in the stored image.
        Ok(self.image.clone())
    }

    fn blob(&self, blob: &Expected) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        let missing = || SourceError::MissingBlob {
            digest: blob.digest.clone(),
        };
        let path = self.blobs.get(&blob.digest).ok_or_else(missing)?;
        match self.files.open(path) {
            Ok((r, _)) => Ok(r),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(missing()),
            Err(source) => Err(SourceError::Blob {
                digest: blob.digest.clone(),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tags: &[&str]) -> ArchiveEntry {
        ArchiveEntry {
            config: "c.json".into(),
            repo_tags: Some(tags.iter().map(|t| t.to_string()).collect()),
            layers: vec![],
        }
    }

    #[test]
    fn selects_by_tag() {
        let es = [entry(&["busybox:latest"]), entry(&["quay.io/a/b:1", "x:2"])];
        let want = DockerRef::parse("docker.io/library/x:2").unwrap();
        let (e, hint) = select(&es, Some(&want)).unwrap();
        assert_eq!(e.repo_tags.as_ref().unwrap()[1], "x:2");
        assert_eq!(hint, Some(NameHint::Docker(want)));
        let e = select(&es, None).unwrap_err();
        assert!(e.contains("holds 2 images"), "{e}");
        assert!(e.contains("docker.io/library/busybox:latest"), "{e}");
        let e = select(&es, Some(&DockerRef::parse("nope").unwrap())).unwrap_err();
        assert!(
            e.contains("no image tagged `docker.io/library/nope:latest`"),
            "{e}"
        );
        let (_, hint) = select(&es[..1], None).unwrap();
        assert_eq!(
            hint.unwrap().store_name().unwrap(),
            "docker.io/library/busybox:latest"
        );
        let untagged = [ArchiveEntry {
            config: "c".into(),
            repo_tags: None,
            layers: vec![],
        }];
        assert_eq!(select(&untagged, None).unwrap().1, None);
        assert!(select(&[], None).is_err());
    }
}
