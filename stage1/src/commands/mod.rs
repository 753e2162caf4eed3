//! One module per command; `main` dispatches here with the global options in `Ctx`.

pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;

use std::path::PathBuf;

/// The global options every command sees.
pub struct Ctx {
    pub root: PathBuf,
    pub systemd_cgroup: bool,
    /// `--cgroup-manager disabled`: no cgroup of the container's own.
    pub cgroups_disabled: bool,
}
