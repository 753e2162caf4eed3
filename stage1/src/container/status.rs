//! The container status, derived each time from the live system rather than stored:
//! the init's pid and start time, the exec fifo, and the freezer.

use std::path::Path;

use super::state::{proc_start_time, State};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }

    /// Created while the fifo waits, running after start, stopped once the init is gone
    /// (or a zombie, or its pid reused by another process).
    pub fn of(state: &State, fifo: &Path) -> Status {
        if state.pid <= 0 {
            // Recorded before the init exists: still being created, or a create that
            // crashed (delete --force cleans that up).
            return if fifo.exists() {
                Status::Creating
            } else {
                Status::Stopped
            };
        }
        match proc_start_time(state.pid) {
            Some((t, false)) if t == state.start_time => {}
            _ => return Status::Stopped,
        }
        if crate::cgroups::is_frozen(&state.cgroup_paths) {
            return Status::Paused;
        }
        if !state.started && fifo.exists() {
            Status::Created
        } else {
            Status::Running
        }
    }
}
