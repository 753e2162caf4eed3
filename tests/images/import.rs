//! `image import`: a root filesystem directory or tarball as a one-layer image.

use std::process::Command;

use crate::support::*;

#[test]
fn import_a_rootfs_directory() {
    let h = Hoist::new("img-import");
    let rootfs = busybox_rootfs();
    let d = h.ok(&["image", "import", s(&rootfs), "imported:v1"]);
    assert!(last_line(&d).starts_with("sha256:"), "{d}");
    assert_eq!(h.names(), ["localhost/imported:v1"]);
    let img = h.inspect("imported:v1");
    assert_eq!(img["digest"], last_line(&d));
    assert_eq!(img["config"]["os"], "linux");
    assert_eq!(
        img["config"]["rootfs"]["diff_ids"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        img["manifest"]["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let out = h.path("rendered");
    h.ok(&["image", "render", "imported:v1", s(&out)]);
    assert_eq!(listing(&out), listing(&rootfs));

    // The same tree gives the same layer: a second import adds a config and a
    // manifest only.
    let blobs = h.blobs().len();
    h.ok(&["image", "import", s(&rootfs), "imported:v2"]);
    assert!(h.blobs().len() <= blobs + 2, "{:?}", h.blobs());
    assert_eq!(h.layers().len(), 1);
}

#[test]
fn import_a_tarball() {
    let h = Hoist::new("img-import-tar");
    let tarball = h.path("rootfs.tar.gz");
    let st = Command::new("tar")
        .arg("-C")
        .arg(busybox_rootfs())
        .arg("-czf")
        .arg(&tarball)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    h.ok(&["image", "import", s(&tarball), "quay.io/me/busybox:tar"]);
    assert_eq!(h.names(), ["quay.io/me/busybox:tar"]);
    let out = h.path("rendered");
    h.ok(&["image", "render", "quay.io/me/busybox:tar", s(&out)]);
    assert_eq!(listing(&out), listing(&busybox_rootfs()));

    let before = snapshot(&h.store());
    let err = h.fail(&["image", "import", s(&tarball), "Bad"]);
    assert!(err.contains("must be lowercase"), "{err}");
    assert_eq!(snapshot(&h.store()), before);
}
