//! Registries: the client side of the distribution API v2 (`docker://` sources), and
//! what it reads from the host to find its way, in the formats containers/image and
//! Docker users already have:
//!
//! - [`client`]: HTTPS (or plain HTTP for insecure registries), the `/v2/` ping, the
//!   WWW-Authenticate challenge flow (Basic, Bearer tokens cached per scope), manifests
//!   checked against `Docker-Content-Digest`, blobs with redirects followed without the
//!   Authorization header, errors named by what failed.
//! - [`challenge`]: parsing `WWW-Authenticate`.
//! - [`auth`]: credentials from `--authfile`, `$REGISTRY_AUTH_FILE`, the containers
//!   `auth.json`, `~/.docker/config.json` (and the credential helpers they name,
//!   `helper`); what `hoist login`/`logout` write.
//! - [`conf`]: `registries.conf` (`insecure = true`).
//! - [`tls`]: the system roots plus `certs.d/HOST:PORT/*.crt`.
//! - `token`: the Bearer token flow; `status`: refusals turned into errors; `wire`:
//!   URL, error-body and TLS-error helpers.
//!
//! The client is blocking (ureq) and `Sync`: the store pulls several layers at once
//! from threads sharing one client.

pub mod auth;
pub mod challenge;
pub mod client;
pub mod conf;
mod helper;
mod status;
pub mod tls;
mod token;
mod wire;

use std::io;
use std::path::PathBuf;

pub use client::Client;

/// Where containers keep per-registry certificates unless `--certs-dir` says otherwise.
pub const DEFAULT_CERTS_DIR: &str = "/etc/containers/certs.d";
/// The registries.conf read unless `--registries-conf` names another.
pub const DEFAULT_REGISTRIES_CONF: &str = "/etc/containers/registries.conf";

/// The global registry options (`--insecure-registry`, `--registries-conf`,
/// `--certs-dir`, `--authfile`).
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `HOST[:PORT]` of registries that may be spoken to over plain HTTP (or HTTPS
    /// with an unverified certificate).
    pub insecure: Vec<String>,
    /// registries.conf; `None` means [`DEFAULT_REGISTRIES_CONF`], if it exists.
    pub registries_conf: Option<PathBuf>,
    /// certs.d; `None` means [`DEFAULT_CERTS_DIR`].
    pub certs_dir: Option<PathBuf>,
    /// The one credentials file to use, instead of the usual search.
    pub authfile: Option<PathBuf>,
}

impl Options {
    pub fn certs_dir(&self) -> PathBuf {
        self.certs_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CERTS_DIR))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("connect to registry `{host}`")]
    Connect {
        host: String,
        #[source]
        source: Box<ureq::Error>,
    },
    #[error("TLS with registry `{host}` failed (a plain HTTP registry? a certificate not trusted, or a client certificate wanted? see --insecure-registry and --certs-dir)")]
    Tls {
        host: String,
        #[source]
        source: Box<ureq::Error>,
    },
    #[error("GET `{url}`")]
    Request {
        url: String,
        #[source]
        source: Box<ureq::Error>,
    },
    #[error("GET `{url}`: HTTP {status}{detail}")]
    Status {
        url: String,
        status: u16,
        detail: String,
    },
    #[error("registry `{host}`: authentication required (log in with `hoist login {host}`)")]
    AuthRequired { host: String },
    #[error("registry `{host}`: wrong credentials for {host}")]
    WrongCredentials { host: String },
    #[error("registry `{host}`: access to `{repository}` denied")]
    Denied { host: String, repository: String },
    #[error("registry `{host}`: repository `{repository}` not found")]
    NameUnknown { host: String, repository: String },
    #[error("registry `{host}`: no manifest `{reference}` in repository `{repository}` ({known})")]
    ManifestUnknown {
        host: String,
        repository: String,
        reference: String,
        /// The tags there are, as far as the registry says.
        known: String,
    },
    #[error("registry `{host}`: blob {digest} not found in `{repository}`")]
    BlobUnknown {
        host: String,
        repository: String,
        digest: String,
    },
    #[error("registry `{host}`: `{header}` is not a challenge hoist can answer")]
    Challenge { host: String, header: String },
    #[error("token from `{realm}`: {reason}")]
    Token { realm: String, reason: String },
    #[error("manifest `{reference}`: the registry says its digest is {claimed}, but it hashes to {actual}")]
    DigestMismatch {
        reference: String,
        claimed: String,
        actual: String,
    },
    #[error("manifest `{reference}` is larger than the {limit} bytes hoist reads")]
    TooLarge { reference: String, limit: u64 },
    #[error("read the response from `{url}`")]
    Body {
        url: String,
        #[source]
        source: io::Error,
    },
    #[error("`{url}`: redirect without a usable Location")]
    Redirect { url: String },
    #[error("`{url}`: more than {max} redirects")]
    TooManyRedirects { url: String, max: usize },
    #[error("read `{path}`")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("write `{path}`")]
    WriteFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("parse `{path}`: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("credentials for `{host}` in `{path}`: {reason}")]
    BadCredentials {
        host: String,
        path: PathBuf,
        reason: String,
    },
    #[error("certificate `{path}`: {reason}")]
    Cert { path: PathBuf, reason: String },
    #[error("not logged in to `{host}` (in `{path}`)")]
    NotLoggedIn { host: String, path: PathBuf },
}
