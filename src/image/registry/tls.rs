//! TLS for registries: the system's roots (what OpenSSL on this host trusts, through
//! rustls-native-certs: `SSL_CERT_FILE`, `/etc/ssl/certs`) plus what containers/image
//! reads from `certs.d/HOST:PORT/`: every `*.crt` is a CA to trust, and a `NAME.cert`
//! with its `NAME.key` is a client certificate to present. An insecure registry gets
//! no verification at all (it may also be spoken to over plain HTTP).

use std::path::{Path, PathBuf};

use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

use super::RegistryError;

/// The TLS configuration for registry `host` (`HOST[:PORT]`).
pub fn config(certs_dir: &Path, host: &str, insecure: bool) -> Result<TlsConfig, RegistryError> {
    let files = HostFiles::read(&certs_dir.join(host))?;
    let client = files.client_cert()?;
    if insecure {
        return Ok(TlsConfig::builder()
            .disable_verification(true)
            .client_cert(client)
            .build());
    }
    let mut roots: Vec<Certificate<'static>> = rustls_native_certs::load_native_certs()
        .certs
        .into_iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    roots.extend(files.cas()?);
    Ok(TlsConfig::builder()
        .root_certs(RootCerts::new_with_certs(&roots))
        .client_cert(client)
        .build())
}

/// The files of one `certs.d/HOST:PORT/` directory, sorted.
struct HostFiles {
    paths: Vec<PathBuf>,
}

impl HostFiles {
    /// Reads the directory; none is no files.
    fn read(dir: &Path) -> Result<HostFiles, RegistryError> {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(HostFiles { paths: Vec::new() })
            }
            Err(source) => {
                return Err(RegistryError::ReadFile {
                    path: dir.into(),
                    source,
                })
            }
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        paths.sort();
        Ok(HostFiles { paths })
    }

    fn with_extension<'a>(&'a self, ext: &'a str) -> impl Iterator<Item = &'a PathBuf> + 'a {
        self.paths
            .iter()
            .filter(move |p| p.extension().is_some_and(|x| x == ext))
    }

    /// The CAs in `*.crt`.
    fn cas(&self) -> Result<Vec<Certificate<'static>>, RegistryError> {
        let mut out = Vec::new();
        for path in self.with_extension("crt") {
            out.extend(certificates(path)?);
        }
        Ok(out)
    }

    /// The client certificate of a `NAME.cert` + `NAME.key` pair (the first, by name);
    /// a lone half of a pair is an error, as in containers/image.
    fn client_cert(&self) -> Result<Option<ClientCert>, RegistryError> {
        let mut pair = None;
        for cert in self.with_extension("cert") {
            let key = cert.with_extension("key");
            if !self.paths.contains(&key) {
                return Err(RegistryError::Cert {
                    path: cert.clone(),
                    reason: format!("missing its key `{}`", key.display()),
                });
            }
            pair.get_or_insert((cert.clone(), key));
        }
        for key in self.with_extension("key") {
            if !self.paths.contains(&key.with_extension("cert")) {
                return Err(RegistryError::Cert {
                    path: key.clone(),
                    reason: "a key without its `.cert`".into(),
                });
            }
        }
        let Some((cert, key)) = pair else {
            return Ok(None);
        };
        let chain = certificates(&cert)?;
        let pem = read(&key)?;
        let key = PrivateKey::from_pem(&pem).map_err(|e| RegistryError::Cert {
            path: key.clone(),
            reason: e.to_string(),
        })?;
        Ok(Some(ClientCert::new_with_certs(&chain, key)))
    }
}

fn read(path: &Path) -> Result<Vec<u8>, RegistryError> {
    std::fs::read(path).map_err(|source| RegistryError::ReadFile {
        path: path.into(),
        source,
    })
}

/// The PEM certificates in `path`, at least one.
fn certificates(path: &Path) -> Result<Vec<Certificate<'static>>, RegistryError> {
    let pem = read(path)?;
    let mut out = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(c)) => out.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(RegistryError::Cert {
                    path: path.into(),
                    reason: e.to_string(),
                })
            }
        }
    }
    if out.is_empty() {
        return Err(RegistryError::Cert {
            path: path.into(),
            reason: "no PEM certificate in it".into(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_dir_is_no_files_and_junk_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let none = HostFiles::read(&tmp.path().join("nope")).unwrap();
        assert!(none.cas().unwrap().is_empty());
        assert!(none.client_cert().unwrap().is_none());
        std::fs::write(tmp.path().join("ca.crt"), "not a certificate\n").unwrap();
        std::fs::write(tmp.path().join("notes.txt"), "ignored").unwrap();
        let e = HostFiles::read(tmp.path()).unwrap().cas().unwrap_err();
        assert!(e.to_string().contains("ca.crt"), "{e}");
    }

    #[test]
    fn half_a_client_pair_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("client.cert"), "x").unwrap();
        let e = HostFiles::read(tmp.path())
            .unwrap()
            .client_cert()
            .unwrap_err();
        assert!(e.to_string().contains("missing its key"), "{e}");
        std::fs::remove_file(tmp.path().join("client.cert")).unwrap();
        std::fs::write(tmp.path().join("client.key"), "x").unwrap();
        let e = HostFiles::read(tmp.path())
            .unwrap()
            .client_cert()
            .unwrap_err();
        assert!(e.to_string().contains("without its `.cert`"), "{e}");
    }
}
