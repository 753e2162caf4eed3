//! A registry over HTTPS with a certificate from a CA the test made: trusted through
//! `--certs-dir` (certs.d/HOST:PORT/ca.crt, as containers lays it out), refused without
//! it, accepted unverified when the registry is named insecure.

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
