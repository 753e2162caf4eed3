//! Indexes and manifest lists resolved by platform, OCI and Docker schema 2 media
//! types, in a layout made by the test: the busybox manifest as linux/amd64 and a
//! variant of it as linux/arm64/v8 under an OCI index (tag `multi`), and a Docker
//! schema 2 manifest under a Docker manifest list (tag `docker`).

use serde_json::{json, Value};

use crate::support::*;

struct Multi {
    layout: std::path::PathBuf,
    amd64: String,
    arm64: String,
    docker: String,
}

fn descriptor(
    media_type: &str,
    digest: &str,
    size: usize,
    arch: &str,
    variant: Option<&str>,
) -> Value {
    let mut platform = json!({"os": "linux", "architecture": arch});
    if let Some(v) = variant {
        platform["variant"] = json!(v);
    }
    json!({"mediaType": media_type, "digest": digest, "size": size, "platform": platform})
}

fn make(h: &Hoist) -> Multi {
    let layout = copy_layout(&h.path("multi"));
    let amd64 = busybox_digest();
    let amd64_bytes = std::fs::read(blob(&layout, &amd64)).expect("make the test layout");
    let manifest: Value = serde_json::from_slice(&amd64_bytes).expect("make the test layout");

    let mut arm = manifest.clone();
    arm["annotations"] = json!({"test": "arm64"});
    let arm_bytes = serde_json::to_vec(&arm).expect("make the test layout");
    let arm64 = write_blob(&layout, &arm_bytes);

    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            descriptor("application/vnd.oci.image.manifest.v1+json", &arm64, arm_bytes.len(), "arm64", Some("v8")),
            descriptor("application/vnd.oci.image.manifest.v1+json", &amd64, amd64_bytes.len(), "amd64", None),
        ]
    });
    let index_bytes = serde_json::to_vec(&index).expect("make the test layout");
    let index_digest = write_blob(&layout, &index_bytes);

    let docker_manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": manifest["config"]["digest"],
            "size": manifest["config"]["size"],
        },
        "layers": [{
            "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "digest": manifest["layers"][0]["digest"],
            "size": manifest["layers"][0]["size"],
        }]
    });
    let docker_bytes = serde_json::to_vec(&docker_manifest).expect("make the test layout");
    let docker = write_blob(&layout, &docker_bytes);
    let list = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [
            descriptor("application/vnd.docker.distribution.manifest.v2+json", &docker, docker_bytes.len(), "amd64", None),
            descriptor("application/vnd.oci.image.manifest.v1+json", &arm64, arm_bytes.len(), "arm64", None),
        ]
    });
    let list_bytes = serde_json::to_vec(&list).expect("make the test layout");
    let list_digest = write_blob(&layout, &list_bytes);

    let mut top: Value = serde_json::from_str(
        &std::fs::read_to_string(layout.join("index.json")).expect("make the test layout"),
    )
    .expect("make the test layout");
    let entries = top["manifests"]
        .as_array_mut()
        .expect("make the test layout");
    entries.push(json!({
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": index_digest, "size": index_bytes.len(),
        "annotations": {"org.opencontainers.image.ref.name": "multi"}
    }));
    entries.push(json!({
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "digest": list_digest, "size": list_bytes.len(),
        "annotations": {"org.opencontainers.image.ref.name": "docker"}
    }));
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&top).expect("make the test layout"),
    )
    .expect("make the test layout");
    Multi {
        layout,
        amd64,
        arm64,
        docker,
    }
}

#[test]
fn indexes_resolve_by_platform() {
    if !cfg!(target_arch = "x86_64") {
        eprintln!("skipped: the test layout's default platform is linux/amd64");
        return;
    }
    let h = Hoist::new("img-platform");
    let m = make(&h);
    let multi = format!("oci:{}:multi", s(&m.layout));
    assert_eq!(
        h.fetch(&["--name", "host", &multi]),
        m.amd64,
        "the host's platform by default"
    );
    assert_eq!(
        h.fetch(&["--name", "arm", "--platform", "linux/arm64", &multi]),
        m.arm64
    );
    assert_eq!(
        h.fetch(&["--name", "armv8", "--platform", "linux/aarch64/v8", &multi]),
        m.arm64
    );
    let err = h.fail(&["fetch", "--platform", "linux/s390x", &multi]);
    assert!(
        err.contains("no image for linux/s390x in index sha256:")
            && err.contains("(it has linux/arm64/v8, linux/amd64)"),
        "{err}"
    );
    let list = h.list();
    let arm = list
        .iter()
        .find(|e| e["name"] == "localhost/arm:latest")
        .unwrap();
    assert_eq!(arm["digest"], m.arm64);

    // Without a tag, a layout with several untagged-by-platform entries is ambiguous.
    let err = h.fail(&["fetch", &format!("oci:{}", s(&m.layout))]);
    assert!(
        err.contains("holds 3 images: name one with :TAG (tags: latest, multi, docker)"),
        "{err}"
    );
}

#[test]
fn docker_schema2_manifest_lists() {
    let h = Hoist::new("img-docker-list");
    let m = make(&h);
    let d = h.fetch(&[
        "--name",
        "dock",
        "--platform",
        "linux/amd64",
        &format!("oci:{}:docker", s(&m.layout)),
    ]);
    // Stored as OCI, as skopeo stores it in a layout: the same config and layer under
    // a rewritten manifest.
    assert_ne!(d, m.docker);
    let img = h.inspect("dock");
    assert_eq!(img["digest"], d);
    assert_eq!(
        img["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        img["manifest"]["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let original = read_json_blob(&m.layout, &m.docker);
    assert_eq!(
        img["manifest"]["layers"][0]["digest"],
        original["layers"][0]["digest"]
    );
    assert_eq!(
        img["manifest"]["config"]["digest"],
        original["config"]["digest"]
    );
    let before = snapshot_strict(&h.store());
    assert_eq!(
        h.fetch(&["--name", "dock", &format!("oci:{}:docker", s(&m.layout))]),
        d,
        "the rewrite is the same every time"
    );
    assert_eq!(snapshot_strict(&h.store()), before);
    let out = h.path("rendered");
    h.ok(&["image", "render", "dock", s(&out)]);
    assert_eq!(listing(&out), listing(&busybox_rootfs()));
    // skopeo reads a Docker manifest out of hoist's OCI layout too.
    let skopeo = require("skopeo", "skopeo");
    let info: serde_json::Value = serde_json::from_str(&run_tool(
        &skopeo,
        &[
            "inspect",
            &format!("oci:{}/images:localhost/dock:latest", s(&h.store())),
        ],
    ))
    .unwrap();
    assert_eq!(info["Digest"], d);
}
