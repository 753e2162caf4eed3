//! One registry, spoken to over the distribution API v2 (the OCI distribution spec's
//! pull side): a `/v2/` ping that learns the scheme (HTTPS; an insecure registry may
//! answer plain HTTP) and the auth challenge; manifests and blobs fetched with the
//! credentials the challenge asks for (Basic, or a Bearer token from the realm, cached
//! per scope and fetched again once when a 401 says it expired); redirects followed by
//! hand so that the Authorization header never leaves for another host (blob
//! downloads are often redirected to storage).
//!
//! Every error names the registry and what was asked of it: an unknown repository or
//! tag, missing or wrong credentials, a refused connection, a manifest whose bytes are
//! not what the registry says they are.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use ureq::http::Response;
use ureq::{Agent, Body, BodyReader};

use super::auth::Credentials;
use super::token::{scheme_of, Scheme};
use super::wire::{is_loopback, is_tls_error, join_url};
use super::{auth, conf, tls, Options, RegistryError};
use crate::image::digest::{Digest, DigestError};
use crate::image::source::{DOCKER_LIST, DOCKER_MANIFEST, MAX_JSON_BLOB, OCI_INDEX, OCI_MANIFEST};

/// How many redirects a request may take (containers/image allows 10; a blob is
/// redirected once, to storage).
const MAX_REDIRECTS: usize = 5;
/// Docker Hub's API lives on another host than its name.
const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A manifest as the registry served it.
#[derive(Clone, Debug)]
pub struct Manifest {
    pub bytes: Vec<u8>,
    /// The Content-Type, parameters dropped; empty when the registry gave none.
    pub media_type: String,
    pub digest: Digest,
}

/// What a request was for, to name it in errors.
pub(super) enum What<'a> {
    Ping,
    Manifest {
        repository: &'a str,
        reference: &'a str,
    },
    Blob {
        repository: &'a str,
        digest: &'a Digest,
    },
}

pub struct Client {
    agent: Agent,
    /// The registry as the user named it (`HOST[:PORT]`).
    pub(super) host: String,
    /// `https://API-HOST` or `http://API-HOST`.
    pub(super) base: String,
    pub(super) creds: Option<Credentials>,
    /// What the ping's challenge asked for; a later 401 may teach another.
    scheme: RwLock<Scheme>,
    /// Bearer tokens by scope.
    tokens: Mutex<HashMap<String, String>>,
}

impl Client {
    /// Connects to the registry of `repository` (`HOST[:PORT]/PATH`) with the
    /// credentials and the TLS and insecure settings the host's files and `opts` give.
    pub fn connect(opts: &Options, host: &str, repository: &str) -> Result<Client, RegistryError> {
        let insecure = conf::is_insecure(opts, host, repository)?;
        let creds = auth::lookup(opts, repository)?.map(|(c, _)| c);
        Self::connect_with(opts, host, insecure, creds)
    }

    /// Connects to `host` with the credentials given (none: anonymous).
    pub fn connect_with(
        opts: &Options,
        host: &str,
        insecure: bool,
        creds: Option<Credentials>,
    ) -> Result<Client, RegistryError> {
        let tls = tls::config(&opts.certs_dir(), host, insecure)?;
        let mut config = Agent::config_builder();
        if is_loopback(host) {
            // Proxies from the environment (ureq reads HTTPS_PROXY and friends) are not
            // for loopback registries; Go's ProxyFromEnvironment skips them too.
            config = config.proxy(None);
        }
        let agent: Agent = config
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("hoist/", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_per_read(Some(Duration::from_secs(60)))
            .tls_config(tls)
            .build()
            .into();
        let api_host = if host == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            host
        };
        // An insecure registry may speak TLS with a certificate nobody checks, or plain
        // HTTP; containers/image tries them in this order too.
        let schemes: &[&str] = if insecure {
            &["https", "http"]
        } else {
            &["https"]
        };
        let mut last = None;
        for s in schemes {
            let base = format!("{s}://{api_host}");
            match agent.get(format!("{base}/v2/")).call() {
                Ok(resp) => {
                    let mut c = Client {
                        agent: agent.clone(),
                        host: host.to_owned(),
                        base,
                        creds: creds.clone(),
                        scheme: RwLock::new(Scheme::Anonymous),
                        tokens: Mutex::new(HashMap::new()),
                    };
                    c.scheme = RwLock::new(c.ping_scheme(resp)?);
                    return Ok(c);
                }
                Err(e) => last = Some(e),
            }
        }
        let source = Box::new(last.unwrap_or(ureq::Error::ConnectionFailed));
        let host = host.to_owned();
        Err(if !insecure && is_tls_error(&source) {
            RegistryError::Tls { host, source }
        } else {
            RegistryError::Connect { host, source }
        })
    }

    /// The registry as the user named it.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Reads the ping's answer: 200 is anonymous, 401 carries the challenge.
    fn ping_scheme(&self, resp: Response<Body>) -> Result<Scheme, RegistryError> {
        let url = format!("{}/v2/", self.base);
        match resp.status().as_u16() {
            200..=299 => Ok(Scheme::Anonymous),
            401 => scheme_of(&resp).map_err(|header| RegistryError::Challenge {
                host: self.host.clone(),
                header,
            }),
            _ => Err(self.status_error(&url, resp, &What::Ping)),
        }
    }

    /// Checks that the client's credentials are accepted (`hoist login`).
    pub fn check_login(&self) -> Result<(), RegistryError> {
        match self.scheme() {
            Scheme::Anonymous => Ok(()),
            Scheme::Basic => {
                let url = format!("{}/v2/", self.base);
                let resp = self.send(
                    &url,
                    None,
                    self.creds.as_ref().map(Credentials::basic_header),
                )?;
                match resp.status().as_u16() {
                    200..=299 => Ok(()),
                    401 => Err(self.unauthorized()),
                    _ => Err(self.status_error(&url, resp, &What::Ping)),
                }
            }
            Scheme::Bearer { realm, service } => {
                self.fetch_token(&realm, service.as_deref(), None).map(drop)
            }
        }
    }

    fn scheme(&self) -> Scheme {
        self.scheme
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// `repository:PATH:pull`
    pub(super) fn scope(path: &str) -> String {
        format!("repository:{path}:pull")
    }

    /// Fetches manifest `reference` (a tag or a digest) of repository `path`, checked
    /// against the digest the registry reports and, for a digest reference, that one.
    pub fn manifest(&self, path: &str, reference: &str) -> Result<Manifest, RegistryError> {
        let url = format!("{}/v2/{path}/manifests/{reference}", self.base);
        let accept = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].join(", ");
        let what = What::Manifest {
            repository: path,
            reference,
        };
        let resp = self.get(&url, Some(&accept), &Self::scope(path), &what)?;
        let too_large = || RegistryError::TooLarge {
            reference: format!("{}/{path}:{reference}", self.host),
            limit: MAX_JSON_BLOB,
        };
        if resp
            .body()
            .content_length()
            .is_some_and(|l| l > MAX_JSON_BLOB)
        {
            return Err(too_large());
        }
        let media_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_owned())
            .unwrap_or_default();
        let claimed = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut bytes = Vec::new();
        resp.into_body()
            .into_reader()
            .take(MAX_JSON_BLOB + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| RegistryError::Body {
                url: url.clone(),
                source,
            })?;
        if bytes.len() as u64 > MAX_JSON_BLOB {
            return Err(too_large());
        }
        let digest = Digest::of(&bytes);
        let shown = || format!("{}/{path}:{reference}", self.host);
        for want in [claimed.as_deref(), Some(reference)].into_iter().flatten() {
            match Digest::parse(want) {
                Ok(d) if d != digest => {
                    return Err(RegistryError::DigestMismatch {
                        reference: shown(),
                        claimed: d.to_string(),
                        actual: digest.to_string(),
                    })
                }
                // Another algorithm than sha256: what hoist computed is what counts.
                Ok(_) | Err(DigestError::Unsupported { .. }) => {}
                // A tag; or a header that is no digest at all.
                Err(_) if want == reference => {}
                Err(_) => {
                    return Err(RegistryError::DigestMismatch {
                        reference: shown(),
                        claimed: want.to_owned(),
                        actual: digest.to_string(),
                    })
                }
            }
        }
        Ok(Manifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// Opens blob `digest` of repository `path` as a stream (not verified: the reader
    /// of it checks digest and size), and its length if the registry said.
    pub fn blob(
        &self,
        path: &str,
        digest: &Digest,
    ) -> Result<(BodyReader<'static>, Option<u64>), RegistryError> {
        let url = format!("{}/v2/{path}/blobs/{digest}", self.base);
        let what = What::Blob {
            repository: path,
            digest,
        };
        let resp = self.get(&url, None, &Self::scope(path), &what)?;
        let len = resp.body().content_length();
        Ok((resp.into_body().into_reader(), len))
    }

    /// GETs a lookaside signature (`http(s)://…/signature-N`, containers-registries.d(5))
    /// with no credentials (a lookaside is another server), following redirects: the
    /// body (at most `limit` bytes, more is an error), or `None` on 404.
    pub fn lookaside(&self, url: &str, limit: u64) -> Result<Option<Vec<u8>>, RegistryError> {
        let mut url = url.to_owned();
        for _ in 0..=MAX_REDIRECTS {
            let resp = self.send(&url, None, None)?;
            let status = resp.status().as_u16();
            if matches!(status, 301 | 302 | 303 | 307 | 308) {
                url = resp
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| join_url(&url, l))
                    .ok_or_else(|| RegistryError::Redirect { url: url.clone() })?;
                continue;
            }
            if status == 404 {
                return Ok(None);
            }
            if !(200..300).contains(&status) {
                return Err(RegistryError::Status {
                    url,
                    status,
                    detail: String::new(),
                });
            }
            let mut bytes = Vec::new();
            resp.into_body()
                .into_reader()
                .take(limit + 1)
                .read_to_end(&mut bytes)
                .map_err(|source| RegistryError::Body {
                    url: url.clone(),
                    source,
                })?;
            if bytes.len() as u64 > limit {
                return Err(RegistryError::TooLarge {
                    reference: url,
                    limit,
                });
            }
            return Ok(Some(bytes));
        }
        Err(RegistryError::TooManyRedirects {
            url,
            max: MAX_REDIRECTS,
        })
    }

    /// GET with authorisation; a 2xx response (after redirects) or the error.
    fn get(
        &self,
        url: &str,
        accept: Option<&str>,
        scope: &str,
        what: &What<'_>,
    ) -> Result<Response<Body>, RegistryError> {
        let mut renewed = false;
        loop {
            let authz = self.authorization(scope)?;
            let resp = self.send(url, accept, authz)?;
            match resp.status().as_u16() {
                401 if !renewed => {
                    renewed = true;
                    // A registry may let the ping through and challenge only here, or
                    // name another realm: learn the challenge. A Bearer token may have
                    // expired mid-fetch. Either way, one more try.
                    let current = self.scheme();
                    let learnt = scheme_of(&resp).ok();
                    let changed = learnt.as_ref().is_some_and(|l| *l != current);
                    if let Some(l) = learnt.filter(|_| changed) {
                        *self.scheme.write().unwrap_or_else(|p| p.into_inner()) = l;
                    } else if !matches!(current, Scheme::Bearer { .. }) {
                        return Err(self.unauthorized());
                    }
                    self.tokens_lock().remove(scope);
                }
                401 => return Err(self.unauthorized()),
                _ => return self.follow(url, resp, accept, what),
            }
        }
    }

    /// Follows redirects without credentials; a 2xx response or the error.
    fn follow(
        &self,
        url: &str,
        mut resp: Response<Body>,
        accept: Option<&str>,
        what: &What<'_>,
    ) -> Result<Response<Body>, RegistryError> {
        let mut url = url.to_owned();
        for _ in 0..=MAX_REDIRECTS {
            let status = resp.status().as_u16();
            if (200..300).contains(&status) {
                return Ok(resp);
            }
            if !matches!(status, 301 | 302 | 303 | 307 | 308) {
                return Err(self.status_error(&url, resp, what));
            }
            let location = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .and_then(|l| join_url(&url, l))
                .ok_or_else(|| RegistryError::Redirect { url: url.clone() })?;
            url = location;
            resp = self.send(&url, accept, None)?;
        }
        Err(RegistryError::TooManyRedirects {
            url,
            max: MAX_REDIRECTS,
        })
    }

    pub(super) fn send(
        &self,
        url: &str,
        accept: Option<&str>,
        authz: Option<String>,
    ) -> Result<Response<Body>, RegistryError> {
        let mut req = self.agent.get(url);
        if let Some(a) = accept {
            req = req.header("Accept", a);
        }
        if let Some(a) = authz {
            req = req.header("Authorization", a);
        }
        req.call().map_err(|e| RegistryError::Request {
            url: url.to_owned(),
            source: Box::new(e),
        })
    }

    /// The Authorization header for a request in `scope`.
    pub(super) fn authorization(&self, scope: &str) -> Result<Option<String>, RegistryError> {
        match self.scheme() {
            Scheme::Anonymous => Ok(None),
            Scheme::Basic => Ok(self.creds.as_ref().map(Credentials::basic_header)),
            Scheme::Bearer { realm, service } => {
                // Held while a token is fetched, so parallel downloads fetch it once.
                let mut tokens = self.tokens_lock();
                if let Some(t) = tokens.get(scope) {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let t = self.fetch_token(&realm, service.as_deref(), Some(scope))?;
                tokens.insert(scope.to_owned(), t.clone());
                Ok(Some(format!("Bearer {t}")))
            }
        }
    }

    fn tokens_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        // A panic elsewhere cannot leave the map inconsistent: take it as it is.
        self.tokens.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn unauthorized(&self) -> RegistryError {
        if self.creds.is_some() {
            RegistryError::WrongCredentials {
                host: self.host.clone(),
            }
        } else {
            RegistryError::AuthRequired {
                host: self.host.clone(),
            }
        }
    }
}
