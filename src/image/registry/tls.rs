//! TLS for registries: the system's roots (what OpenSSL on this host trusts, through
//! rustls-native-certs: `SSL_CERT_FILE`, `/etc/ssl/certs`) plus, as containers/image
//! does, every `*.crt` in `certs.d/HOST:PORT/` (a private registry's CA). An insecure
//! registry gets no verification at all (it may also be spoken to over plain HTTP).

use std::path::Path;

use ureq::tls::{Certificate, RootCerts, TlsConfig};

use super::RegistryError;

/// The TLS configuration for registry `host` (`HOST[:PORT]`).
pub fn config(certs_dir: &Path, host: &str, insecure: bool) -> Result<TlsConfig, RegistryError> {
    if insecure {
        return Ok(TlsConfig::builder().disable_verification(true).build());
    }
    let mut roots: Vec<Certificate<'static>> = rustls_native_certs::load_native_certs()
        .certs
        .into_iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    roots.extend(host_cas(&certs_dir.join(host))?);
    Ok(TlsConfig::builder()
        .root_certs(RootCerts::new_with_certs(&roots))
        .build())
}

/// The CAs in `dir/*.crt` (none when the directory does not exist).
fn host_cas(dir: &Path) -> Result<Vec<Certificate<'static>>, RegistryError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(RegistryError::ReadFile {
                path: dir.into(),
                source,
            })
        }
    };
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "crt"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let pem = std::fs::read(&path).map_err(|source| RegistryError::ReadFile {
            path: path.clone(),
            source,
        })?;
        let before = out.len();
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => out.push(c),
                Ok(_) => {}
                Err(e) => {
                    return Err(RegistryError::Cert {
                        path,
                        reason: e.to_string(),
                    })
                }
            }
        }
        if out.len() == before {
            return Err(RegistryError::Cert {
                path,
                reason: "no PEM certificate in it".into(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_dir_is_no_cas_and_junk_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(host_cas(&tmp.path().join("nope")).unwrap().is_empty());
        std::fs::write(tmp.path().join("ca.crt"), "not a certificate\n").unwrap();
        std::fs::write(tmp.path().join("notes.txt"), "ignored").unwrap();
        let e = host_cas(tmp.path()).unwrap_err();
        assert!(e.to_string().contains("ca.crt"), "{e}");
    }
}
