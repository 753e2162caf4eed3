//! `image list`, `inspect`, `rm` and `gc`: what they show, and what gc keeps and frees.

use crate::support::*;

#[test]
fn list_inspect_rm_gc() {
    let h = Hoist::new("img-manage");
    let src = format!("oci:{}:latest", s(&busybox_layout()));
    h.fetch(&["--name", "a", &src]);
    h.fetch(&["--name", "b:v2", &src]);
    assert_eq!(h.names(), ["localhost/a:latest", "localhost/b:v2"]);

    let list = h.list();
    assert_eq!(list[0]["digest"], busybox_digest());
    assert_eq!(list[0]["layers"], 1);
    assert!(list[0]["size"].as_u64().unwrap() > 500_000, "{list:?}");
    assert_eq!(list[0]["created"], "1970-01-01T00:00:00Z");
    assert!(list[0]["platform"].as_str().unwrap().starts_with("linux/"));
    let table = h.ok(&["image", "list"]);
    assert!(table.starts_with("NAME "), "{table}");
    assert!(table.contains("localhost/b:v2"), "{table}");

    // Short names, full names and digests all find the image.
    let by_short = h.inspect("a");
    assert_eq!(by_short["name"], "localhost/a:latest");
    assert_eq!(by_short["digest"], busybox_digest());
    assert_eq!(by_short["manifest"]["layers"].as_array().unwrap().len(), 1);
    let diff_id = by_short["config"]["rootfs"]["diff_ids"][0]
        .as_str()
        .unwrap();
    assert_eq!(h.layers(), [diff_id.strip_prefix("sha256:").unwrap()]);
    assert_eq!(h.inspect("localhost/b:v2")["digest"], busybox_digest());
    assert_eq!(h.inspect(&busybox_digest())["digest"], busybox_digest());

    // rm is all or nothing.
    let err = h.fail(&["image", "rm", "a", "nope"]);
    assert!(err.contains("image `nope` not known"), "{err}");
    assert_eq!(h.names().len(), 2);
    assert_eq!(h.ok(&["image", "rm", "a"]).trim(), "localhost/a:latest");
    assert_eq!(h.names(), ["localhost/b:v2"]);
    let err = h.fail(&["image", "inspect", "a"]);
    assert!(err.contains("image `a` not known"), "{err}");

    // gc keeps what a tag reaches.
    h.ok(&["image", "gc"]);
    assert_eq!(h.blobs().len(), 3);
    assert_eq!(h.layers().len(), 1);

    // A digest removes every tag of the manifest; gc then frees everything.
    h.fetch(&["--name", "c", &src]);
    let removed = h.ok(&["image", "rm", &busybox_digest()]);
    assert_eq!(
        removed.lines().collect::<Vec<_>>(),
        ["localhost/b:v2", "localhost/c:latest"]
    );
    assert!(h.names().is_empty());
    let report = h.ok(&["image", "gc"]);
    assert!(report.contains("removed 3 blobs"), "{report}");
    assert!(h.blobs().is_empty(), "{:?}", h.blobs());
    assert!(h.layers().is_empty(), "{:?}", h.layers());
    assert_eq!(
        names_in(&h.store().join("images")),
        ["blobs", "index.json", "oci-layout"]
    );
    assert_eq!(h.index()["manifests"], serde_json::json!([]));
}

#[test]
fn gc_removes_leftovers_and_untagged_entries() {
    let h = Hoist::new("img-gc");
    h.fetch(&[
        "--name",
        "busybox",
        &format!("oci:{}:latest", s(&busybox_layout())),
    ]);
    let blobs = h.store().join("images/blobs/sha256");
    let layers = h.store().join("layers");
    // What killed processes and other tools may leave.
    std::fs::write(blobs.join(".hoist-tmp-1-0-0"), "half a blob").unwrap();
    std::fs::write(h.store().join("images/.hoist-tmp-2-0-0"), "half an index").unwrap();
    let stray = hoist::image::digest::Digest::of(b"nobody's");
    std::fs::write(blobs.join(stray.hex()), "nobody's").unwrap();
    std::fs::create_dir_all(layers.join(".tmp-abc/etc")).unwrap();
    std::fs::create_dir_all(layers.join(stray.hex()).join("bin")).unwrap();
    // An index entry without a tag (as `skopeo copy` to `oci:DIR` with no tag writes).
    let mut index = h.index();
    let mut untagged = index["manifests"][0].clone();
    untagged.as_object_mut().unwrap().remove("annotations");
    untagged["digest"] = serde_json::json!(stray.to_string());
    index["manifests"].as_array_mut().unwrap().push(untagged);
    std::fs::write(
        h.store().join("images/index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();

    let report = h.ok(&["image", "gc"]);
    assert!(report.contains("1 untagged"), "{report}");
    assert_eq!(h.blobs().len(), 3, "{:?}", h.blobs());
    assert_eq!(h.layers().len(), 1, "{:?}", h.layers());
    assert!(!h.store().join("images/.hoist-tmp-2-0-0").exists());
    assert_eq!(h.index()["manifests"].as_array().unwrap().len(), 1);
    let out = h.path("rendered");
    h.ok(&["image", "render", "busybox", s(&out)]);
    assert!(out.join("bin/busybox").is_file());
}
