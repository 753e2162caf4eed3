//! OCI layouts the tests write by hand: layers as tars (plain, gzip or zstd), configs
//! with their diff_ids, manifests, indexes, tags in index.json. skopeo pushes them.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use hoist::image::digest::Digest;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

#[derive(Clone, Copy)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// One entry of a layer tar.
pub enum Entry<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
}

/// A tar of `entries` (root-owned, mtime 0).
pub fn tar(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        match e {
            Entry::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, p, std::io::empty()).expect("tar dir");
            }
            Entry::File(p, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, p, *data).expect("tar file");
            }
        }
    }
    b.into_inner().expect("finish tar")
}

/// `len` bytes of deterministic noise (xorshift), seeded by `seed`.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

pub struct Layout {
    pub dir: PathBuf,
}

impl Layout {
    pub fn new(dir: &Path) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).expect("make layout");
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
            .expect("write oci-layout");
        let l = Layout { dir: dir.into() };
        l.write_index(&json!({"schemaVersion": 2, "manifests": []}));
        l
    }

    fn write_index(&self, v: &Value) {
        std::fs::write(self.dir.join("index.json"), v.to_string()).expect("write index");
    }

    /// Writes a blob; returns its descriptor (`mediaType` set to `media_type`).
    pub fn blob(&self, media_type: &str, bytes: &[u8]) -> Value {
        let d = Digest::of(bytes);
        std::fs::write(self.dir.join("blobs/sha256").join(d.hex()), bytes).expect("write blob");
        json!({"mediaType": media_type, "digest": d.to_string(), "size": bytes.len()})
    }

    /// An image of `layers` (tars, compressed as asked) for linux/`arch`; returns its
    /// manifest's descriptor (with the platform).
    pub fn image(&self, layers: &[(Vec<u8>, Compression)], arch: &str, note: &str) -> Value {
        let mut diff_ids = Vec::new();
        let mut descs = Vec::new();
        for (tar, c) in layers {
            diff_ids.push(Digest::of(tar).to_string());
            let (mt, bytes) = match c {
                Compression::None => ("application/vnd.oci.image.layer.v1.tar", tar.clone()),
                Compression::Gzip => ("application/vnd.oci.image.layer.v1.tar+gzip", gzip(tar)),
                Compression::Zstd => (
                    "application/vnd.oci.image.layer.v1.tar+zstd",
                    zstd::encode_all(&tar[..], 3).expect("zstd"),
                ),
            };
            descs.push(self.blob(mt, &bytes));
        }
        let config = json!({
            "architecture": arch,
            "os": "linux",
            "config": {"Env": ["PATH=/bin"], "Labels": {"note": note}},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        let config = self.blob(
            "application/vnd.oci.image.config.v1+json",
            config.to_string().as_bytes(),
        );
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config,
            "layers": descs,
        });
        let mut d = self.blob(OCI_MANIFEST, manifest.to_string().as_bytes());
        d["platform"] = json!({"os": "linux", "architecture": arch});
        d
    }

    /// An index of `manifests`; returns its descriptor.
    pub fn index(&self, manifests: &[Value]) -> Value {
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
        self.blob(OCI_INDEX, index.to_string().as_bytes())
    }

    /// Tags `desc` as `tag` in index.json.
    pub fn tag(&self, tag: &str, desc: &Value) {
        let path = self.dir.join("index.json");
        let mut index: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read index")).expect("index");
        let mut d = desc.clone();
        d["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
        index["manifests"]
            .as_array_mut()
            .expect("manifests")
            .push(d);
        self.write_index(&index);
    }

    /// `oci:DIR:TAG`
    pub fn source(&self, tag: &str) -> String {
        format!("oci:{}:{tag}", self.dir.display())
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

/// The digest string of a descriptor.
pub fn digest_of(desc: &Value) -> String {
    desc["digest"].as_str().expect("digest").to_owned()
}
