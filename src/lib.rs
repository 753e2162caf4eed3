//! hoist (stage0): images (fetch, verify, store, unpack) and, later, pods. It talks to
//! its stage1 only through OCI bundles and runc's command line.

pub mod cli;
pub mod commands;
pub mod image;
pub mod sys;
pub mod trust;
