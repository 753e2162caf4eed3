//! `hoist trust`'s arguments: trust a key for a prefix, list the policy, remove a
//! prefix (rkt's `trust`, written as containers-policy.json entries).

use std::path::PathBuf;

use clap::Args;

use super::ListFormat;

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("action").args(["list", "remove", "key"]).required(true)))]
pub struct TrustArgs {
    /// The registry, namespace or repository the key is trusted for
    /// (e.g. `registry.example.com/team`).
    #[arg(long, required_unless_present = "list")]
    pub prefix: Option<String>,
    /// List the policy's requirements.
    #[arg(long, conflicts_with_all = ["remove", "key", "prefix"])]
    pub list: bool,
    /// Remove the entry for --prefix (and the keys `hoist trust` copied for it).
    #[arg(long, conflicts_with = "key")]
    pub remove: bool,
    /// Output of --list.
    #[arg(long, value_enum, default_value_t = ListFormat::Table, requires = "list")]
    pub format: ListFormat,
    /// Where trusted keys are copied to.
    #[arg(long, default_value = crate::trust::edit::DEFAULT_TRUST_DIR)]
    pub root: PathBuf,
    /// A GPG public key (armored or binary: a `signedBy` entry) or a PEM ECDSA P-256
    /// public key (cosign: a `sigstoreSigned` entry).
    #[arg(value_name = "KEYFILE")]
    pub key: Option<PathBuf>,
}
