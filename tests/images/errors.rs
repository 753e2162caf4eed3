//! Refused input: a corrupt, truncated or oversized blob, a damaged manifest, a missing
//! blob, bad references and flags. Each fails with one line naming what was wrong,
//! status 1, and leaves the store exactly as it was (DESIGN.md rules 4 and 5).

use std::fs::OpenOptions;
use std::io::Write;

use crate::support::*;

/// A store holding something already (an import), so that "unchanged" means more than
/// "still empty"; and its snapshot.
fn store_with_content(prefix: &str) -> (Hoist, Snapshot) {
    let h = Hoist::new(prefix);
    let root = h.path("tiny");
    std::fs::create_dir_all(root.join("etc")).expect("test setup");
    std::fs::write(root.join("etc/hostname"), "tiny\n").expect("test setup");
    h.ok(&["image", "import", s(&root), "tiny"]);
    let snap = snapshot(&h.store());
    (h, snap)
}

/// The busybox layer's digest and a writable copy of the layout.
fn broken_layout(h: &Hoist) -> (std::path::PathBuf, String) {
    let layout = copy_layout(&h.path("layout"));
    let manifest = read_json_blob(&layout, &busybox_digest());
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .expect("test setup")
        .to_owned();
    (layout, layer)
}

fn fetch_fails(h: &Hoist, layout: &std::path::Path) -> String {
    h.fail(&["fetch", &format!("oci:{}:latest", s(layout))])
}

#[test]
fn corrupt_layer_is_refused_and_nothing_stays() {
    let (h, before) = store_with_content("img-corrupt");
    let (layout, layer) = broken_layout(&h);
    let path = blob(&layout, &layer);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
    let err = fetch_fails(&h, &layout);
    assert!(err.contains(&format!("blob {layer}")), "{err}");
    assert!(err.contains("does not match its digest"), "{err}");
    assert_eq!(
        snapshot(&h.store()),
        before,
        "the store is exactly as before"
    );
    // And the store still works.
    h.fetch(&[&format!("oci:{}:latest", s(&busybox_layout()))]);
}

#[test]
fn truncated_layer_is_refused() {
    let (h, before) = store_with_content("img-truncated");
    let (layout, layer) = broken_layout(&h);
    let f = OpenOptions::new()
        .write(true)
        .open(blob(&layout, &layer))
        .unwrap();
    f.set_len(1000).unwrap();
    let err = fetch_fails(&h, &layout);
    assert!(err.contains(&format!("blob {layer}: truncated")), "{err}");
    assert_eq!(snapshot(&h.store()), before);
}

#[test]
fn oversized_layer_is_refused() {
    let (h, before) = store_with_content("img-oversized");
    let (layout, layer) = broken_layout(&h);
    let mut f = OpenOptions::new()
        .append(true)
        .open(blob(&layout, &layer))
        .unwrap();
    f.write_all(&[0u8; 4096]).unwrap();
    let err = fetch_fails(&h, &layout);
    assert!(
        err.contains(&format!("blob {layer}: more bytes than the")),
        "{err}"
    );
    assert_eq!(snapshot(&h.store()), before);
}

#[test]
fn damaged_manifest_and_missing_blob_are_refused() {
    let (h, before) = store_with_content("img-manifest");
    let (layout, _) = broken_layout(&h);
    let m = blob(&layout, &busybox_digest());
    let mut bytes = std::fs::read(&m).unwrap();
    bytes[10] ^= 0x20;
    std::fs::write(&m, &bytes).unwrap();
    let err = fetch_fails(&h, &layout);
    assert!(err.contains(&format!("blob {}", busybox_digest())), "{err}");
    assert_eq!(snapshot(&h.store()), before);

    bytes[10] ^= 0x20;
    std::fs::write(&m, &bytes).unwrap();
    let config = read_json_blob(&layout, &busybox_digest())["config"]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::remove_file(blob(&layout, &config)).unwrap();
    let err = fetch_fails(&h, &layout);
    assert!(err.contains(&format!("blob {config} is missing")), "{err}");
    assert_eq!(snapshot(&h.store()), before);
}

#[test]
fn a_layout_blob_that_is_a_symlink_is_not_followed() {
    let (h, before) = store_with_content("img-symlink");
    let (layout, layer) = broken_layout(&h);
    let path = blob(&layout, &layer);
    let real = h.path("elsewhere");
    std::fs::rename(&path, &real).unwrap();
    std::os::unix::fs::symlink(&real, &path).unwrap();
    let err = fetch_fails(&h, &layout);
    assert!(err.contains(&format!("blob {layer}")), "{err}");
    assert_eq!(snapshot(&h.store()), before);
}

#[test]
fn bad_references_and_flags() {
    let (h, before) = store_with_content("img-badref");
    let layout = s(&busybox_layout()).to_owned();
    let cases: &[(&[&str], &str)] = &[
        (&["fetch", "oci:"], "`oci:` needs a path"),
        (&["fetch", "dir:/x"], "unsupported transport `dir:`"),
        (&["fetch", "docker:busybox"], "spelled `docker://`"),
        (&["fetch", "Busybox"], "must be lowercase"),
        // A registry nobody listens for (on loopback: tests never leave the machine).
        (
            &["fetch", "docker://127.0.0.1:1/busybox"],
            "connect to registry `127.0.0.1:1`",
        ),
        (&["fetch", "docker://busybox@sha256:abc"], "bad digest"),
        (
            &["fetch", "oci:/nonexistent/layout:latest"],
            "/nonexistent/layout",
        ),
        (
            &["fetch", &format!("oci:{layout}:nope")],
            "no image tagged `nope` (tags: latest)",
        ),
        (
            &["fetch", &format!("oci:{layout}:bad tag")],
            "not a valid OCI ref.name",
        ),
        (
            &["fetch", "--platform", "linux", &format!("oci:{layout}")],
            "invalid platform `linux`",
        ),
        (
            &["fetch", "--name", "Bad", &format!("oci:{layout}")],
            "must be lowercase",
        ),
        (&["fetch", &format!("oci-archive:{layout}")], "read"),
        (&["image", "inspect", "sha256:1234"], "malformed digest"),
        (&["image", "rm", "docker.io/library/nope:1"], "not known"),
        (
            &["image", "import", "/nonexistent/rootfs", "x"],
            "/nonexistent/rootfs",
        ),
        (&["image", "frobnicate"], "unrecognized subcommand"),
    ];
    for (args, want) in cases {
        let out = h.run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: want {want:?} in {err:?}");
        if args[0] != "image" || args[1] != "frobnicate" {
            assert_eq!(h.fail(args), err.trim_end(), "{args:?}: one line");
        }
    }
    assert_eq!(snapshot(&h.store()), before, "bad input changes nothing");
}

/// An OCI layout at `dir` holding one image whose only layer is `layer` (uncompressed),
/// tagged `latest`.
fn layout_with_layer(dir: &std::path::Path, layer: &[u8]) -> String {
    std::fs::create_dir_all(dir.join("blobs/sha256")).expect("make the layout");
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
        .expect("write oci-layout");
    let layer_digest = write_blob(dir, layer);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]}
    });
    let config = serde_json::to_vec(&config).expect("config");
    let config_digest = write_blob(dir, &config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest, "size": layer.len()}]
    });
    let manifest = serde_json::to_vec(&manifest).expect("manifest");
    let manifest_digest = write_blob(dir, &manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": manifest_digest, "size": manifest.len(),
                       "annotations": {"org.opencontainers.image.ref.name": "latest"}}]
    });
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&index).expect("index"),
    )
    .expect("write index.json");
    layer_digest
}

#[test]
fn malicious_layer_is_refused_and_nothing_stays() {
    let (h, before) = store_with_content("img-malicious");
    // A tar whose one entry climbs out of the layer: `../../escaped`.
    let mut header = tar::Header::new_old();
    header.as_old_mut().name[..13].copy_from_slice(b"../../escaped");
    header.set_size(4);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    let mut layer = header.as_bytes().to_vec();
    layer.extend_from_slice(b"evil");
    layer.resize(layer.len() + 508 + 1024, 0);
    let layout = h.path("evil");
    let digest = layout_with_layer(&layout, &layer);

    let err = h.fail(&["fetch", &format!("oci:{}:latest", s(&layout))]);
    assert!(err.contains(&format!("unpack layer {digest}")), "{err}");
    assert!(err.contains("escaped"), "the entry is named: {err}");
    assert_eq!(
        snapshot(&h.store()),
        before,
        "no blob, no layer, no temp dir"
    );
    assert!(!h.tmp.path().join("escaped").exists());
    assert!(!h.store().join("escaped").exists());
}
