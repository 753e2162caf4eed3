//! Pod networking: `--net none` (loopback only), `--net host` (the host's namespace),
//! and CNI networks (`--net default|NAME[,NAME]`) through the standard plugins, with
//! host ports forwarded by `portmap` and the pod's /etc/hosts and /etc/resolv.conf.
//!
//! Network configs are CNI conflists in the net dir (`/etc/hoist/net.d`, `--net-dir`),
//! one per network, named `<name>.conflist`. `default` is written there on first use
//! if it is missing. What ADD returned is kept in the pod directory with the config it
//! was made from, so that DEL undoes exactly that, even after the file changed.

pub mod cni;
pub mod files;
pub mod ports;

use std::io;
use std::path::PathBuf;

/// Where network configs live unless `--net-dir` says otherwise.
pub const DEFAULT_NET_DIR: &str = "/etc/hoist/net.d";

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("no network `{name}` (no {path})")]
    NoNetwork { name: String, path: PathBuf },
    #[error("network config `{path}`: {reason}")]
    BadConfig { path: PathBuf, reason: String },
    #[error("CNI plugin `{plugin}` not found in {dirs}")]
    NoPlugin { plugin: String, dirs: String },
    #[error("CNI {command} of network `{network}`, plugin `{plugin}`: {message}")]
    Plugin {
        command: &'static str,
        network: String,
        plugin: String,
        message: String,
    },
    #[error("host port {0} is already taken")]
    PortTaken(String),
    #[error("--port needs a CNI network (not --net {0})")]
    PortWithoutCni(String),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> NetError {
    let what = what.into();
    move |source| NetError::Io { what, source }
}
