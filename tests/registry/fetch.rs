//! Images fetched from a plain-HTTP registry: busybox as pushed (OCI, gzip), a
//! multi-layer image with whiteouts and opaque directories, zstd layers, Docker
//! schema 2, a manifest list of two platforms, references by tag, by digest and bare.

use crate::layouts::{digest_of, noise, tar, Compression, Entry, Layout};
use crate::server::{self, fetch_ok, hoist_fails, Kind, Registry};
use crate::support::*;

fn busybox_src() -> String {
    format!("oci:{}:latest", s(&busybox_layout()))
}

/// The blobs and layers directories, strictly: a second fetch must not even make a
/// temp file there.
fn blobs_and_layers(h: &Hoist) -> (Snapshot, Snapshot) {
    (
        snapshot_strict(&h.store().join("images/blobs")),
        snapshot_strict(&h.store().join("layers")),
    )
}

/// The manifest digest the registry serves for `name`, as skopeo sees it.
fn registry_digest(reg: &Registry, name: &str) -> String {
    let skopeo = require("skopeo", "skopeo");
    let info: serde_json::Value = serde_json::from_str(&run_tool(
        &skopeo,
        &["inspect", "--tls-verify=false", &reg.url(name)],
    ))
    .expect("skopeo JSON");
    info["Digest"].as_str().expect("a digest").to_owned()
}

#[test]
fn busybox_from_a_plain_registry_then_nothing_twice() {
    let reg = Registry::start(Kind::Plain);
    reg.push(&busybox_src(), "busybox:latest", &[]);
    let h = server::hoist("reg-busybox");
    let d = fetch_ok(&h, &reg, &[&reg.url("busybox:latest")]);
    assert_eq!(d, busybox_digest(), "the registry's manifest, as pushed");
    let name = format!("{}/busybox:latest", reg.host());
    assert!(h.names().contains(&name), "{:?}", h.names());
    let out = h.path("rendered");
    h.ok(&["image", "render", &name, s(&out)]);
    assert_eq!(listing(&out), listing(&busybox_rootfs()));

    // A second fetch downloads nothing and writes no blob or layer, not even a temp file.
    let before = blobs_and_layers(&h);
    assert_eq!(fetch_ok(&h, &reg, &[&reg.url("busybox")]), d);
    // The bare name (no docker://) is the same image.
    assert_eq!(fetch_ok(&h, &reg, &[&format!("{}/busybox", reg.host())]), d);
    assert_eq!(blobs_and_layers(&h), before);

    // skopeo reads what hoist stored.
    let skopeo = require("skopeo", "skopeo");
    let src = format!("oci:{}/images:{name}", s(&h.store()));
    let info: serde_json::Value =
        serde_json::from_str(&run_tool(&skopeo, &["inspect", &src])).expect("skopeo JSON");
    assert_eq!(info["Digest"], d, "{info}");
}

#[test]
fn by_digest_and_a_wrong_digest() {
    let reg = Registry::start(Kind::Plain);
    reg.push(&busybox_src(), "busybox:latest", &[]);
    let h = server::hoist("reg-digest");
    let d = busybox_digest();
    let r = format!("{}/busybox@{d}", reg.host());
    assert_eq!(fetch_ok(&h, &reg, &[&r]), d);
    assert!(h.names().contains(&r), "{:?}", h.names());

    let before = snapshot(&h.store());
    let other = format!("sha256:{}", "ab".repeat(32));
    let err = hoist_fails(
        &h,
        &reg,
        &["fetch", &format!("{}/busybox@{other}", reg.host())],
    );
    assert!(err.contains(&format!("no manifest `{other}`")), "{err}");
    assert_eq!(snapshot(&h.store()), before);
}

#[test]
fn multi_layer_with_whiteouts() {
    let reg = Registry::start(Kind::Plain);
    let h = server::hoist("reg-layers");
    let l = Layout::new(&h.path("layout"));
    let big = noise(1, 3 << 20);
    let base = tar(&[
        Entry::Dir("etc"),
        Entry::File("etc/a", b"a\n"),
        Entry::File("etc/b", b"b\n"),
        Entry::Dir("data"),
        Entry::File("data/x", b"x\n"),
        Entry::File("big", &big),
    ]);
    let second = tar(&[Entry::Dir("etc"), Entry::File("etc/.wh.a", b"")]);
    let third = tar(&[
        Entry::Dir("data"),
        Entry::File("data/.wh..wh..opq", b""),
        Entry::File("data/y", b"y\n"),
        Entry::File("more", &noise(2, 2 << 20)),
    ]);
    let fourth = tar(&[
        Entry::File("etc/c", b"c\n"),
        Entry::File("z", &noise(3, 1 << 20)),
    ]);
    let desc = l.image(
        &[
            (base, Compression::Gzip),
            (second, Compression::None),
            (third, Compression::Zstd),
            (fourth, Compression::Gzip),
        ],
        "amd64",
        "layers",
    );
    l.tag("layers", &desc);
    reg.push(&l.source("layers"), "layers:v1", &[]);
    let d = fetch_ok(&h, &reg, &[&reg.url("layers:v1")]);
    // skopeo compresses the uncompressed layer on the way in: the registry's manifest
    // is what hoist must have fetched.
    assert_eq!(d, registry_digest(&reg, "layers:v1"));
    assert_eq!(h.layers().len(), 4);
    let out = h.path("rendered");
    h.ok(&[
        "image",
        "render",
        &format!("{}/layers:v1", reg.host()),
        s(&out),
    ]);
    let names = |p: &str| names_in(&out.join(p));
    assert_eq!(names("etc"), ["b", "c"]);
    assert_eq!(names("data"), ["y"]);
    assert_eq!(std::fs::read(out.join("big")).expect("big"), big);
    assert_eq!(std::fs::read(out.join("z")).expect("z"), noise(3, 1 << 20));
}

#[test]
fn zstd_and_docker_schema_2() {
    let reg = Registry::start(Kind::Plain);
    reg.push(
        &busybox_src(),
        "zstd:latest",
        &["--dest-compress-format", "zstd", "--dest-compress"],
    );
    reg.push(&busybox_src(), "docker:latest", &["--format", "v2s2"]);
    let h = server::hoist("reg-zstd");
    for tag in ["zstd", "docker"] {
        let d = fetch_ok(&h, &reg, &[&reg.url(&format!("{tag}:latest"))]);
        let name = format!("{}/{tag}:latest", reg.host());
        let info = h.inspect(&name);
        let manifest = &info["manifest"];
        let mt = manifest["layers"][0]["mediaType"]
            .as_str()
            .unwrap_or_default();
        match tag {
            "zstd" => {
                assert_eq!(mt, "application/vnd.oci.image.layer.v1.tar+zstd", "{info}");
                assert_ne!(d, busybox_digest(), "recompressed: another manifest");
            }
            _ => assert_eq!(mt, "application/vnd.oci.image.layer.v1.tar+gzip", "{info}"),
        }
        let out = h.path(&format!("rendered-{tag}"));
        h.ok(&["image", "render", &name, s(&out)]);
        assert_eq!(listing(&out), listing(&busybox_rootfs()), "{tag}");
    }
    // Both are the same layer inside: one layer directory.
    assert_eq!(h.layers().len(), 1);
}

#[test]
fn manifest_list_of_two_platforms() {
    let reg = Registry::start(Kind::Plain);
    let h = server::hoist("reg-multi");
    let l = Layout::new(&h.path("layout"));
    let layer = |t: &[u8]| (tar(&[Entry::File("arch", t)]), Compression::Gzip);
    let amd = l.image(&[layer(b"amd64\n")], "amd64", "amd");
    let arm = l.image(&[layer(b"arm64\n")], "arm64", "arm");
    let index = l.index(&[arm.clone(), amd.clone()]);
    l.tag("multi", &index);
    reg.push(&l.source("multi"), "multi:latest", &["--all"]);

    assert_eq!(fetch_ok(&h, &reg, &[&reg.url("multi")]), digest_of(&amd));
    let arm_digest = fetch_ok(
        &h,
        &reg,
        &[
            "--platform",
            "linux/arm64",
            "--name",
            "multi-arm",
            &reg.url("multi"),
        ],
    );
    assert_eq!(arm_digest, digest_of(&arm));
    // By the index's digest too.
    let by_digest = format!("{}/multi@{}", reg.host(), digest_of(&index));
    assert_eq!(fetch_ok(&h, &reg, &[&by_digest]), digest_of(&amd));

    let out = h.path("rendered");
    h.ok(&["image", "render", "multi-arm", s(&out)]);
    assert_eq!(std::fs::read(out.join("arch")).expect("arch"), b"arm64\n");

    let before = snapshot(&h.store());
    let err = hoist_fails(
        &h,
        &reg,
        &["fetch", "--platform", "linux/s390x", &reg.url("multi")],
    );
    assert!(err.contains("no image for linux/s390x"), "{err}");
    assert!(err.contains("linux/arm64, linux/amd64"), "{err}");
    assert_eq!(snapshot(&h.store()), before);
}

#[test]
fn concurrent_fetches_of_one_image() {
    let reg = Registry::start(Kind::Plain);
    let h = server::hoist("reg-concurrent");
    let l = Layout::new(&h.path("layout"));
    let layers: Vec<_> = (0..4)
        .map(|i| {
            let name = format!("f{i}");
            (
                tar(&[Entry::File(&name, &noise(10 + i, 1 << 20))]),
                Compression::Gzip,
            )
        })
        .collect();
    let desc = l.image(&layers, "amd64", "concurrent");
    l.tag("c", &desc);
    reg.push(&l.source("c"), "c:latest", &[]);
    let children: Vec<_> = (0..3)
        .map(|_| {
            server::command(&h, &reg, &["fetch", &reg.url("c")])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn hoist")
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().expect("wait for hoist");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            last_line(&String::from_utf8_lossy(&out.stdout)),
            digest_of(&desc)
        );
    }
    assert_eq!(h.layers().len(), 4);
    assert_eq!(h.names(), [format!("{}/c:latest", reg.host())]);
    // Nothing left behind: every file in blobs/ is a blob of the image.
    assert_eq!(h.blobs().len(), 6, "{:?}", h.blobs());
}
