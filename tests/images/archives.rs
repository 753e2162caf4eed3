//! `image export` to `oci-archive:` and `docker-archive:`, and fetching archives back,
//! including the docker-archive skopeo writes.

use std::process::Command;

use crate::support::*;

#[test]
fn export_oci_archive_and_fetch_it_back() {
    let h = Hoist::new("img-export-oci");
    h.fetch(&[
        "--name",
        "busybox",
        &format!("oci:{}:latest", s(&busybox_layout())),
    ]);
    let file = h.path("busybox-oci.tar");
    h.ok(&[
        "image",
        "export",
        "busybox",
        &format!("oci-archive:{}", s(&file)),
    ]);
    assert_eq!(
        names_in(h.tmp.path()),
        ["busybox-oci.tar", "store"],
        "no temp file beside the archive"
    );

    let back = Hoist::new("img-export-oci-back");
    let d = back.fetch(&[&format!("oci-archive:{}", s(&file))]);
    assert_eq!(d, busybox_digest(), "the manifest comes back byte for byte");
    assert_eq!(
        back.names(),
        ["localhost/busybox:latest"],
        "named by its ref.name"
    );

    // A tag given to export becomes the ref.name; the same image exports identically.
    let tagged = h.path("tagged.tar");
    h.ok(&[
        "image",
        "export",
        "busybox",
        &format!("oci-archive:{}:v1", s(&tagged)),
    ]);
    back.fetch(&[&format!("oci-archive:{}:v1", s(&tagged))]);
    assert!(back.names().contains(&"localhost/v1:latest".to_owned()));
    let again = h.path("again.tar");
    h.ok(&[
        "image",
        "export",
        "busybox",
        &format!("oci-archive:{}", s(&again)),
    ]);
    assert!(std::fs::read(&file).unwrap() == std::fs::read(&again).unwrap());

    let err = h.fail(&[
        "image",
        "export",
        "busybox",
        &format!("oci:{}", s(&h.path("dir"))),
    ]);
    assert!(
        err.contains("exports to oci-archive:FILE or docker-archive:FILE"),
        "{err}"
    );
    let err = h.fail(&[
        "image",
        "export",
        "busybox",
        "oci-archive:/nonexistent/dir/x.tar",
    ]);
    assert!(err.contains("/nonexistent/dir"), "{err}");
    let err = h.fail(&[
        "image",
        "export",
        "nope",
        &format!("oci-archive:{}", s(&again)),
    ]);
    assert!(err.contains("image `nope` not known"), "{err}");
}

/// A docker-archive of busybox as `skopeo copy` writes it.
fn skopeo_docker_archive(h: &Hoist) -> std::path::PathBuf {
    let skopeo = require("skopeo", "skopeo");
    let file = h.path("busybox-docker.tar");
    run_tool(
        &skopeo,
        &[
            "copy",
            "-q",
            &format!("oci:{}:latest", s(&busybox_layout())),
            &format!("docker-archive:{}:busybox:latest", s(&file)),
        ],
    );
    file
}

#[test]
fn docker_archive_from_skopeo() {
    let h = Hoist::new("img-docker-archive");
    let file = skopeo_docker_archive(&h);
    let d = h.fetch(&[&format!("docker-archive:{}", s(&file))]);
    assert_eq!(
        h.names(),
        ["docker.io/library/busybox:latest"],
        "named by RepoTags"
    );
    let img = h.inspect("busybox");
    assert_eq!(img["digest"], d);
    let layer = &img["manifest"]["layers"][0];
    assert_eq!(layer["mediaType"], "application/vnd.oci.image.layer.v1.tar");
    assert_eq!(
        layer["digest"], img["config"]["rootfs"]["diff_ids"][0],
        "an uncompressed layer is its diff_id"
    );
    assert_eq!(
        img["manifest"]["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );

    // The same archive converts to the same manifest: nothing new the second time.
    let before = snapshot_strict(&h.store());
    assert_eq!(
        h.fetch(&[&format!("docker-archive:{}:busybox:latest", s(&file))]),
        d
    );
    assert_eq!(snapshot_strict(&h.store()), before);

    let out = h.path("rendered");
    h.ok(&["image", "render", "busybox", s(&out)]);
    assert_eq!(listing(&out), listing(&busybox_rootfs()));

    let err = h.fail(&[
        "fetch",
        &format!("docker-archive:{}:busybox:nope", s(&file)),
    ]);
    assert!(
        err.contains("no image tagged `docker.io/library/busybox:nope`"),
        "{err}"
    );
}

#[test]
fn docker_archive_export_reads_in_skopeo_and_back() {
    let skopeo = require("skopeo", "skopeo");
    let h = Hoist::new("img-export-docker");
    h.fetch(&[
        "--name",
        "busybox",
        &format!("oci:{}:latest", s(&busybox_layout())),
    ]);
    let file = h.path("out.tar");
    h.ok(&[
        "image",
        "export",
        "busybox",
        &format!("docker-archive:{}:busybox:exported", s(&file)),
    ]);
    let info: serde_json::Value = serde_json::from_str(&run_tool(
        &skopeo,
        &["inspect", &format!("docker-archive:{}", s(&file))],
    ))
    .unwrap();
    assert_eq!(info["Layers"].as_array().unwrap().len(), 1, "{info}");
    assert_eq!(
        info["Architecture"],
        h.inspect("busybox")["config"]["architecture"]
    );
    let listed = Command::new("tar").arg("tf").arg(&file).output().unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.lines().any(|l| l == "manifest.json"), "{listed}");

    let back = Hoist::new("img-export-docker-back");
    back.fetch(&[&format!("docker-archive:{}", s(&file))]);
    assert_eq!(back.names(), ["docker.io/library/busybox:exported"]);
    assert_eq!(
        back.inspect("busybox:exported")["config"],
        h.inspect("busybox")["config"],
        "the config travels as it is"
    );
    let out = back.path("rendered");
    back.ok(&["image", "render", "busybox:exported", s(&out)]);
    assert_eq!(listing(&out), listing(&busybox_rootfs()));
}
