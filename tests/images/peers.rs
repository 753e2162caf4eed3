//! The store is an OCI layout other tools read and write as it is: skopeo inspects and
//! copies from it, umoci unpacks from it, and hoist uses what skopeo copied into it.

use crate::support::*;

fn fetched(prefix: &str) -> Hoist {
    let h = Hoist::new(prefix);
    h.fetch(&[
        "--name",
        "busybox",
        &format!("oci:{}:latest", s(&busybox_layout())),
    ]);
    h
}

#[test]
fn skopeo_reads_the_store() {
    let skopeo = require("skopeo", "skopeo");
    let h = fetched("img-skopeo");
    let src = format!("oci:{}/images:localhost/busybox:latest", s(&h.store()));
    let info: serde_json::Value =
        serde_json::from_str(&run_tool(&skopeo, &["inspect", &src])).unwrap();
    assert_eq!(info["Digest"], busybox_digest(), "{info}");
    let out = h.path("copy");
    run_tool(
        &skopeo,
        &["copy", "-q", &src, &format!("oci:{}:x", s(&out))],
    );
    assert!(blob(&out, &busybox_digest()).is_file());
}

#[test]
fn umoci_unpacks_from_the_store() {
    let umoci = require("umoci", "umoci");
    let h = fetched("img-umoci");
    let bundle = h.path("bundle");
    run_tool(
        &umoci,
        &[
            "unpack",
            "--image",
            &format!("{}/images:localhost/busybox:latest", s(&h.store())),
            s(&bundle),
        ],
    );
    assert_eq!(listing(&bundle.join("rootfs")), listing(&busybox_rootfs()));
}

#[test]
fn hoist_uses_what_skopeo_copied_in() {
    let skopeo = require("skopeo", "skopeo");
    let h = Hoist::new("img-skopeo-in");
    h.ok(&["image", "list"]);
    run_tool(
        &skopeo,
        &[
            "copy",
            "-q",
            &format!("oci:{}:latest", s(&busybox_layout())),
            &format!("oci:{}/images:other", s(&h.store())),
        ],
    );
    // A tag another tool wrote is found as written; its layers, never unpacked by
    // hoist, are unpacked when first needed.
    assert!(h.names().contains(&"other".to_owned()), "{:?}", h.names());
    assert!(h.layers().is_empty());
    let out = h.path("rendered");
    h.ok(&["image", "render", "other", s(&out)]);
    assert_eq!(listing(&out), listing(&busybox_rootfs()));
    assert_eq!(h.layers().len(), 1);
}
