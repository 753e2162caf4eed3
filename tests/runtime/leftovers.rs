//! What a container may leave on the host, found and removed: cgroup directories in
//! every hierarchy, processes. Removal runs in `Drop`, often while a test unwinds, so
//! `remove_cgroup` and `CgroupParentLock` never panic.

use std::fs::{self, File};
use std::os::fd::AsRawFd;

use crate::exec::{poll, SETTLE};

/// Every test cgroup lives under this, one leaf per container.
pub const CGROUP_PARENT: &str = "hoist-test";

pub use crate::common::run::{
    alive, cgroup_dirs, hierarchies, processes_mentioning, remove_cgroup,
};

pub fn assert_pid_gone(pid: i64) {
    assert!(
        poll(SETTLE, || (!alive(pid)).then_some(())).is_some(),
        "process {pid} still alive"
    );
}

/// A shared flock held while a test may have cgroups under `CGROUP_PARENT`; whoever
/// gets it exclusively at the end is the last test alive and removes the parent.
pub struct CgroupParentLock {
    file: Option<File>,
}

impl CgroupParentLock {
    pub fn take() -> Self {
        // The test executable itself: shared by every test of this file, and nothing
        // else locks it, so no lock file is left lying around.
        let file = std::env::current_exe()
            .and_then(File::open)
            .ok()
            .filter(|f| {
                // SAFETY: flock on an fd this File owns and keeps open.
                unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH) == 0 }
            });
        CgroupParentLock { file }
    }
}

impl Drop for CgroupParentLock {
    fn drop(&mut self) {
        let Some(f) = &self.file else { return };
        // SAFETY: flock on an fd this File owns and keeps open.
        let last = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 };
        if last {
            // No other test holds it: nobody is creating cgroups under the parent now.
            // rmdir fails (EBUSY) while it still has children, which is what we want.
            for h in hierarchies() {
                let _ = fs::remove_dir(h.join(CGROUP_PARENT));
            }
        }
    }
}
