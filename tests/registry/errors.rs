//! Refused fetches against a real registry: an unknown repository, an unknown tag, a
//! registry nobody listens for, a plain-HTTP registry not named insecure, a blob
//! corrupted on the registry's disk, a registry that stops mid-blob. Each is one line
//! naming what failed, status 1, and the store is exactly as it was.

use crate::proxy::CutProxy;
use crate::server::{self, hoist_fails, isolate, output, Kind, Registry};
use crate::support::*;

/// A store holding something already, so that "unchanged" means more than "empty".
fn store_with_content(prefix: &str) -> (Hoist, Snapshot) {
    let h = server::hoist(prefix);
    let root = h.path("tiny");
    std::fs::create_dir_all(root.join("etc")).expect("test setup");
    std::fs::write(root.join("etc/hostname"), "tiny\n").expect("test setup");
    h.ok(&["image", "import", s(&root), "tiny"]);
    let snap = snapshot(&h.store());
    (h, snap)
}

fn pushed_busybox(kind: Kind) -> Registry {
    let reg = Registry::start(kind);
    reg.push(
        &format!("oci:{}:latest", s(&busybox_layout())),
        "busybox:latest",
        &[],
    );
    reg
}

/// The busybox layer's digest.
fn busybox_layer() -> String {
    read_json_blob(&busybox_layout(), &busybox_digest())["layers"][0]["digest"]
        .as_str()
        .expect("a layer")
        .to_owned()
}

#[test]
fn unknown_repository_and_tag() {
    let reg = pushed_busybox(Kind::Plain);
    let (h, before) = store_with_content("reg-unknown");
    let err = hoist_fails(&h, &reg, &["fetch", &reg.url("nope:latest")]);
    assert_eq!(
        err,
        format!(
            "hoist: fetch `{}`: registry `{}`: repository `nope` not found",
            reg.url("nope:latest"),
            reg.host()
        )
    );
    let err = hoist_fails(&h, &reg, &["fetch", &reg.url("busybox:v9")]);
    assert!(
        err.ends_with(&format!(
            "registry `{}`: no manifest `v9` in repository `busybox` (tags: latest)",
            reg.host()
        )),
        "{err}"
    );
    assert_eq!(snapshot(&h.store()), before);
}

#[test]
fn nobody_listening_and_plain_http_not_named_insecure() {
    let reg = pushed_busybox(Kind::Plain);
    let (h, before) = store_with_content("reg-refused");
    // Port 1: nothing listens there (an ephemeral port could be taken by another
    // test's registry between picking and connecting).
    let port = 1;
    let mut c = h.command();
    isolate(&mut c, &h);
    c.args([
        "--insecure-registry",
        &format!("127.0.0.1:{port}"),
        "fetch",
        &format!("docker://127.0.0.1:{port}/busybox"),
    ]);
    let (code, _, err) = output(c);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("connect to registry `127.0.0.1:{port}`"))
            && err.contains("Connection refused"),
        "{err}"
    );

    // HTTPS to a plain-HTTP registry fails in the handshake, and says what to do.
    let mut c = h.command();
    isolate(&mut c, &h);
    c.args([
        "--registries-conf",
        s(&reg.conf()),
        "fetch",
        &reg.url("busybox"),
    ]);
    let (code, _, err) = output(c);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("TLS with registry `{}` failed", reg.host()))
            && err.contains("--insecure-registry"),
        "{err}"
    );
    assert_eq!(snapshot(&h.store()), before);
}

#[test]
fn insecure_by_registries_conf() {
    let reg = pushed_busybox(Kind::Plain);
    let h = server::hoist("reg-conf");
    let conf = h.path("registries.conf");
    std::fs::write(
        &conf,
        format!(
            "[[registry]]\nlocation = \"{}\"\ninsecure = true\n",
            reg.host()
        ),
    )
    .expect("test setup");
    let mut c = h.command();
    isolate(&mut c, &h);
    c.args(["--registries-conf", s(&conf), "fetch", &reg.url("busybox")]);
    let (code, out, err) = output(c);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(last_line(&out), busybox_digest());
}

#[test]
fn blob_corrupted_on_the_registry_disk() {
    let reg = pushed_busybox(Kind::Plain);
    let (h, before) = store_with_content("reg-corrupt");
    let layer = busybox_layer();
    let path = reg.blob_file(&layer);
    let mut bytes = std::fs::read(&path).expect("the registry's blob file");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&path, bytes).expect("corrupt it");
    let err = hoist_fails(&h, &reg, &["fetch", &reg.url("busybox")]);
    assert!(
        err.contains(&format!("blob {layer}: content does not match its digest")),
        "{err}"
    );
    assert_eq!(
        snapshot(&h.store()),
        before,
        "the store is exactly as before"
    );
}

#[test]
fn registry_that_stops_mid_blob() {
    let reg = pushed_busybox(Kind::Plain);
    let (h, before) = store_with_content("reg-cut");
    let layer = busybox_layer();
    // Every connection ends after 200 KiB of responses: the ping, the manifest and the
    // config fit, the 1 MB layer does not.
    let proxy = CutProxy::start(reg.port, 200 << 10);
    let mut c = h.command();
    isolate(&mut c, &h);
    c.args([
        "--registries-conf",
        s(&reg.conf()),
        "--insecure-registry",
        &proxy.host(),
        "fetch",
        &format!("docker://{}/busybox", proxy.host()),
    ]);
    let (code, _, err) = output(c);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&format!("blob {layer}: truncated")), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        snapshot(&h.store()),
        before,
        "the store is exactly as before"
    );
}

#[test]
fn manifest_changed_on_the_registry_disk() {
    let reg = pushed_busybox(Kind::Plain);
    let (h, before) = store_with_content("reg-manifest");
    let manifest = busybox_digest();
    let path = reg.blob_file(&manifest);
    // Still valid JSON, other bytes: a space at the end.
    let mut bytes = std::fs::read(&path).expect("the registry's manifest file");
    bytes.push(b' ');
    std::fs::write(&path, &bytes).expect("change it");
    let err = hoist_fails(&h, &reg, &["fetch", &reg.url("busybox")]);
    let actual = hoist::image::digest::Digest::of(&bytes);
    assert!(
        err.ends_with(&format!(
            "manifest `{}/busybox:latest`: the registry says its digest is {manifest}, \
             but it hashes to {actual}",
            reg.host(),
        )),
        "{err}"
    );
    assert_eq!(snapshot(&h.store()), before);
}

#[test]
fn blob_missing_from_the_registry() {
    let reg = pushed_busybox(Kind::Plain);
    let (h, before) = store_with_content("reg-missing");
    let layer = busybox_layer();
    std::fs::remove_file(reg.blob_file(&layer)).expect("remove the registry's blob file");
    let err = hoist_fails(&h, &reg, &["fetch", &reg.url("busybox")]);
    assert!(
        err.ends_with(&format!(
            "registry `{}`: blob {layer} not found in `busybox`",
            reg.host()
        )),
        "{err}"
    );
    assert_eq!(snapshot(&h.store()), before);
}
