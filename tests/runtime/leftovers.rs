//! What a container may leave on the host, found and removed: cgroup directories in
//! every hierarchy, processes. Removal runs in `Drop`, often while a test unwinds, so
//! `remove_cgroup` and `CgroupParentLock` never panic.

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::Duration;

use crate::exec::{poll, SETTLE};

/// Every test cgroup lives under this, one leaf per container.
pub const CGROUP_PARENT: &str = "hoist-test";
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The cgroup hierarchies mounted under /sys/fs/cgroup (v1 controllers, name=systemd,
/// the unified mount), each once: symlinks are skipped, as where `cpu` and `cpuacct`
/// point at `cpu,cpuacct`.
pub fn hierarchies() -> Vec<PathBuf> {
    let Ok(rd) = fs::read_dir(CGROUP_ROOT) else {
        return Vec::new();
    };
    rd.flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect()
}

/// Hierarchies in which the cgroup `rel` (absolute, like `/hoist-test/x`) exists.
pub fn cgroup_dirs(rel: &str) -> Vec<PathBuf> {
    hierarchies()
        .into_iter()
        .map(|h| h.join(rel.trim_start_matches('/')))
        .filter(|p| p.is_dir())
        .collect()
}

/// Pids of processes whose command line mentions `needle`: a runtime or a container
/// init that has not yet exec'd still carries the container id in its argv.
pub fn processes_mentioning(needle: &str) -> Vec<(u32, String)> {
    let me = std::process::id();
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter_map(|pid| {
            let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
            cmd.contains(needle).then_some((pid, cmd))
        })
        .collect()
}

/// Whether `pid` is still a live (not zombie) process.
pub fn alive(pid: i64) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state letter follows the `(comm)` field, which may hold spaces.
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

pub fn assert_pid_gone(pid: i64) {
    assert!(
        poll(SETTLE, || (!alive(pid)).then_some(())).is_some(),
        "process {pid} still alive"
    );
}

/// Kills what is left in cgroup `rel` and removes its directories; never panics.
pub fn remove_cgroup(rel: &str) {
    for dir in cgroup_dirs(rel) {
        let _ = poll(Duration::from_secs(3), || {
            if let Ok(procs) = fs::read_to_string(dir.join("cgroup.procs")) {
                for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    // SAFETY: kill takes plain integers; the pid came from this
                    // container's own cgroup, so nothing else is signalled.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            fs::remove_dir(&dir).ok()
        });
    }
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
