//! Fetching from `oci:` and `oci-archive:`, the second fetch that finds everything in
//! place, and rendering what was fetched.

use crate::support::*;

#[test]
fn fetch_oci_layout_then_refetch_writes_nothing() {
    let h = Hoist::new("img-fetch");
    let src = format!("oci:{}:latest", s(&busybox_layout()));
    let digest = h.fetch(&[&src]);
    assert_eq!(
        digest,
        busybox_digest(),
        "fetch prints the manifest digest last"
    );
    // podman's rule: a layout tag without a registry is a localhost/ name.
    assert_eq!(h.names(), ["localhost/latest:latest"]);
    assert_eq!(
        h.blobs().len(),
        3,
        "manifest, config and layer: {:?}",
        h.blobs()
    );
    for b in h.blobs() {
        let ours = std::fs::read(h.store().join("images/blobs/sha256").join(&b)).unwrap();
        let theirs = std::fs::read(busybox_layout().join("blobs/sha256").join(&b)).unwrap();
        assert!(ours == theirs, "blob {b} copied byte for byte");
    }
    assert_eq!(h.layers().len(), 1, "one layer unpacked");
    assert!(h
        .store()
        .join("layers")
        .join(&h.layers()[0])
        .join("bin/busybox")
        .is_file());

    let before = snapshot_strict(&h.store());
    let started = std::time::Instant::now();
    assert_eq!(h.fetch(&[&src]), digest);
    let warm = started.elapsed();
    assert_eq!(
        snapshot_strict(&h.store()),
        before,
        "a second fetch copies, renames and rewrites nothing (blob mtimes and inodes kept)"
    );
    eprintln!("warm re-fetch: {warm:?}");
}

#[test]
fn fetch_oci_archive_by_tag_and_without() {
    let h = Hoist::new("img-ociarchive");
    let archive = s(&busybox_archive()).to_owned();
    assert_eq!(
        h.fetch(&[&format!("oci-archive:{archive}")]),
        busybox_digest()
    );
    assert_eq!(
        h.names(),
        ["localhost/latest:latest"],
        "named by the sole entry's ref.name"
    );
    let before = h.blobs();
    let d = h.fetch(&[
        "--name",
        "busybox:1",
        &format!("oci-archive:{archive}:latest"),
    ]);
    assert_eq!(d, busybox_digest());
    assert_eq!(
        h.names(),
        ["localhost/busybox:1", "localhost/latest:latest"]
    );
    assert_eq!(h.blobs(), before, "the same image twice is stored once");
    // A full name given with --name is kept as it is.
    h.fetch(&[
        "--name",
        "quay.io/x/busybox:2",
        &format!("oci-archive:{archive}"),
    ]);
    assert!(h.names().contains(&"quay.io/x/busybox:2".to_owned()));
}

#[test]
fn render_gives_the_rootfs_back() {
    let h = Hoist::new("img-render");
    h.fetch(&[
        "--name",
        "busybox",
        &format!("oci:{}:latest", s(&busybox_layout())),
    ]);
    let out = h.path("rendered");
    h.ok(&["image", "render", "busybox", s(&out)]);
    assert_eq!(listing(&out), listing(&busybox_rootfs()));

    // Rendering into a directory with something in it is refused, and leaves it be.
    std::fs::write(out.join("keep"), "x").unwrap();
    let err = h.fail(&["image", "render", "busybox", s(&out)]);
    assert!(err.contains("not empty"), "{err}");
    assert!(out.join("keep").exists());
    let err = h.fail(&["image", "render", "nope", s(&h.path("other"))]);
    assert!(err.contains("image `nope` not known"), "{err}");
}
