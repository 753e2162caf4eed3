//! Signature policy end to end: `hoist --signature-policy P --registries.d D fetch`
//! admitting images whose GPG simple signatures (made by skopeo, `copy --sign-by` to a
//! real registry and `standalone-sign`) or cosign-format signatures (made by the
//! tests' own P-256 signer, as Debian's skopeo has sigstore disabled) verify, and
//! refusing a wrong key, a signature for another digest or another repository, a
//! missing signature and `reject` with one clear line, exit 1 and the store exactly
//! as before; the same for `docker://` images in a real docker-registry (file:// and
//! http lookasides, cosign attachments pushed as tags). `hoist trust` writing, listing
//! and removing policy entries.
//!
//! Needs gnupg, skopeo, docker-registry and busybox-static (httpd, for the http
//! lookaside), all in the Makefile's deps; the busybox layout `make image` builds.
// Test helpers panic on setup failures by design.
#![allow(clippy::unwrap_used)]

mod common;

#[path = "images/support.rs"]
mod support;

#[path = "trust/keys.rs"]
mod keys;

#[path = "trust/cli.rs"]
mod cli;
#[path = "trust/cosign.rs"]
mod cosign;
#[path = "trust/gpg.rs"]
mod gpg;
#[path = "trust/registry.rs"]
mod registry;
