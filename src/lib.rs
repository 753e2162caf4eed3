//! hoist (stage0): images (fetch, verify, store, unpack), pods (prepare, supervise,
//! network, gc) and systemd units. It talks to
//! its stage1 only through OCI bundles and runc's command line.

pub mod cli;
pub mod commands;
pub mod image;
pub mod net;
pub mod pod;
pub mod sys;
pub mod systemd;
pub mod time;
pub mod trust;
