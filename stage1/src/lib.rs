//! hoist-runtime: hoist's stage1, an OCI runtime with runc's command line.
//!
//! The modules follow the life of a container: `cli` and `commands` (one per
//! command), `spec` (config.json), `container` (state on disk), `process` (launch and
//! the init), `namespaces`, `rootfs`, `cgroups`, `hooks`, and `sys`, which holds every
//! raw syscall.

pub mod cgroups;
pub mod cli;
pub mod commands;
pub mod container;
pub mod fuzzing;
pub mod hooks;
pub mod logging;
pub mod namespaces;
pub mod notify;
pub mod process;
pub mod rootfs;
pub mod seccomp;
pub mod selfclone;
pub mod signal;
pub mod spec;
pub mod sys;
pub mod time;

/// The runtime-spec version this runtime implements.
pub const OCI_VERSION: &str = "1.2.0";

/// `--version`'s three lines, like runc's.
pub fn version_text() -> String {
    format!(
        "hoist-runtime version {}\ncommit: {}\nspec: {}",
        env!("CARGO_PKG_VERSION"),
        option_env!("HOIST_COMMIT").unwrap_or("unknown"),
        OCI_VERSION
    )
}
