//! Trust: whether an image may enter the store, decided by a signature policy in the
//! format users already have (containers-policy.json(5), [`policy`]) before anything
//! of the image is stored.
//!
//! - [`policy`]: policy.json parsed strictly; requirements per transport and scope.
//! - [`scope`]: the image a decision is about ([`Subject`]): scopes and identity.
//! - [`identity`]: `signedIdentity`, how a signature's reference must match.
//! - [`registries`]: registries.d, where lookaside signatures live per registry.
//! - [`store`]: [`SignatureStore`], what a transport implements to hand out signatures;
//!   [`layout`] implements it for OCI layouts.
//! - [`gpg`], [`cosign`], [`payload`]: verifying the two signature formats and reading
//!   the simple-signing payload both carry.
//! - [`check`]: the decision, [`Policy::check`].
//! - [`edit`]: the policy entries `hoist trust` writes, lists and removes.
//!
//! Where the policy comes from ([`Policy::load`]): `--signature-policy FILE`, else
//! `$HOME/.config/containers/policy.json`, else `/etc/containers/policy.json`. When
//! none exists hoist refuses to fetch, as podman and skopeo do: a machine without a
//! policy has not said what it trusts (Debian's containers-common, which podman
//! depends on, installs an accept-anything one).

pub mod check;
pub mod cosign;
pub mod edit;
pub mod fuzzing;
pub mod gpg;
pub mod identity;
pub mod layout;
pub mod payload;
pub mod policy;
pub mod registries;
pub mod scope;
pub mod store;

use std::io;
use std::path::PathBuf;

pub use policy::{Policy, Requirement};
pub use registries::Registries;
pub use scope::{Subject, Transport};
pub use store::SignatureStore;

use crate::image::source::SourceError;

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("no signature policy: neither {} exists (create one, e.g. {{\"default\": [{{\"type\": \"insecureAcceptAnything\"}}]}}, or pass --signature-policy FILE)", .paths.join(" nor "))]
    NoPolicy { paths: Vec<String> },
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
    #[error("signature policy `{path}`: {reason}")]
    Policy { path: PathBuf, reason: String },
    #[error("registries.d `{path}`: {reason}")]
    Registries { path: PathBuf, reason: String },
    #[error("key `{key}`: {reason}")]
    Key { key: String, reason: String },
    #[error("lookaside `{url}`: {reason}")]
    Lookaside { url: String, reason: String },
    #[error("signature `{url}` is larger than {} bytes", payload::MAX_SIGNATURE)]
    SignatureTooLarge { url: String },
    #[error("signature tag `{tag}`: {reason}")]
    Attachment { tag: String, reason: String },
    #[error("{image} is rejected by the signature policy ({scope})")]
    Rejected { image: String, scope: String },
    #[error("{image} is not signed: {requirement} ({scope}) requires a signature and there is none ({looked})")]
    NoSignature {
        image: String,
        requirement: &'static str,
        scope: String,
        looked: String,
    },
    #[error("{image}: no signature is accepted by {requirement} ({scope}): {reasons}")]
    Unverified {
        image: String,
        requirement: &'static str,
        scope: String,
        reasons: String,
    },
    #[error("read signatures")]
    Source(#[from] SourceError),
}
