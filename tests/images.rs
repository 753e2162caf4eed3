//! `hoist fetch` and `hoist image …` end to end: images from `oci:` layouts,
//! `oci-archive:` and `docker-archive:` tars into a private `--dir`, verified, unpacked,
//! listed, inspected, removed, collected, rendered, exported and imported; the store
//! read by skopeo and umoci as it is; refused input (corrupt, truncated and oversized
//! blobs, bad references) leaving the store exactly as it was; concurrent fetches and
//! gcs leaving it consistent.
//!
//! The source image is the busybox layout `make image` builds (`$HOIST_BUSYBOX`,
//! default target/images/busybox: `oci/` and `oci.tar`). skopeo and umoci are needed
//! for the peer checks and the docker-archive source; a test that needs one fails
//! naming the Debian package when it is missing.

mod common;

#[path = "images/support.rs"]
mod support;

#[path = "images/archives.rs"]
mod archives;
#[path = "images/concurrency.rs"]
mod concurrency;
#[path = "images/errors.rs"]
mod errors;
#[path = "images/fetch.rs"]
mod fetch;
#[path = "images/import.rs"]
mod import;
#[path = "images/manage.rs"]
mod manage;
#[path = "images/peers.rs"]
mod peers;
#[path = "images/platform.rs"]
mod platform;
