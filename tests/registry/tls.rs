//! A registry over HTTPS with a certificate from a CA the test made: trusted through
//! `--certs-dir` (certs.d/HOST:PORT/ca.crt, as containers lays it out), refused without
//! it, accepted unverified when the registry is named insecure; a registry that wants a
//! client certificate gets the `client.cert`/`client.key` pair of certs.d.

use crate::server::{self, fetch_ok, isolate, output, Kind, Registry};
use crate::support::*;

#[test]
fn tls_with_a_private_ca() {
    let reg = Registry::start(Kind::Tls);
    reg.push(
        &format!("oci:{}:latest", s(&busybox_layout())),
        "busybox:latest",
        &[],
    );
    let h = server::hoist("reg-tls");
    assert_eq!(fetch_ok(&h, &reg, &[&reg.url("busybox")]), busybox_digest());

    // Without the CA: refused in the handshake, nothing stored.
    let h2 = server::hoist("reg-tls-untrusted");
    let empty = h2.path("no-certs");
    std::fs::create_dir_all(&empty).expect("test setup");
    let mut c = h2.command();
    isolate(&mut c, &h2);
    c.args([
        "--registries-conf",
        s(&reg.conf()),
        "--certs-dir",
        s(&empty),
        "fetch",
        &reg.url("busybox"),
    ]);
    let (code, _, err) = output(c);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("TLS with registry `{}`", reg.host())),
        "{err}"
    );
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert!(h2.names().is_empty());

    // Named insecure: HTTPS without verification.
    let mut c = h2.command();
    isolate(&mut c, &h2);
    c.args([
        "--registries-conf",
        s(&reg.conf()),
        "--certs-dir",
        s(&empty),
        "--insecure-registry",
        &reg.host(),
        "fetch",
        &reg.url("busybox"),
    ]);
    let (code, out, err) = output(c);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(last_line(&out), busybox_digest());
}

#[test]
fn client_certificate_from_certs_d() {
    let reg = Registry::start(Kind::MutualTls);
    reg.push(
        &format!("oci:{}:latest", s(&busybox_layout())),
        "busybox:latest",
        &[],
    );
    let h = server::hoist("reg-mtls");
    assert_eq!(fetch_ok(&h, &reg, &[&reg.url("busybox")]), busybox_digest());

    // The CA alone: the registry refuses the handshake.
    let h2 = server::hoist("reg-mtls-nocert");
    let certs = h2.path("certs.d");
    let d = certs.join(reg.host());
    std::fs::create_dir_all(&d).expect("test setup");
    std::fs::copy(reg.ca(), d.join("ca.crt")).expect("test setup");
    let mut c = h2.command();
    isolate(&mut c, &h2);
    c.args([
        "--registries-conf",
        s(&reg.conf()),
        "--certs-dir",
        s(&certs),
        "fetch",
        &reg.url("busybox"),
    ]);
    let (code, _, err) = output(c);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&format!("registry `{}`", reg.host())), "{err}");
    assert!(err.contains("TLS with registry"), "{err}");
    assert!(h2.names().is_empty());
}
