//! Starting the wait of the first cgroup move early, so that the init's join does not
//! sit through it.
//!
//! A write to `cgroup.procs` takes the kernel's `cgroup_threadgroup_rwsem` for writing.
//! After a quiet spell (tens of ms: between two containers, even in a tight loop) that
//! lock must first switch to its slow mode, which waits for an RCU grace period, 2 to
//! 20 ms on these VMs: often more than the rest of `create`. It stays switched for about
//! a grace period after the last writer, so moves soon after the first are free. Only
//! CLONE_INTO_CGROUP (cgroup v2 only) avoids the lock; v1 and hybrid hosts always pay.
//!
//! So `create` and `run` fork a helper first thing, which moves itself into the cgroup
//! it already is in (a no-op move that still takes the lock) and exits. The grace
//! period then passes while we re-execute from the protected binary, read the config,
//! make the state dir, write the first record and clone the init; the container's
//! cgroup directories are made only after that (the helper holds cgroup_mutex while it
//! waits, which mkdir needs). The helper touches nothing of the container; if it
//! cannot run, only the timing changes. (Moving it again and again to keep the lock
//! switched was slower: every move briefly stops all forks and execs.) Its pid crosses
//! the protective re-exec in `_HOIST_PRIMER`, so that the new image reaps it. Forked
//! before that re-exec, it also holds the last copy of the protected binary's mount
//! fd, whose closing waits for another grace period (see selfclone), at its exit.

use std::ffi::CString;
use std::path::PathBuf;

use crate::sys;

const ENV: &str = "_HOIST_PRIMER";

/// The helper process, reaped when done with.
#[derive(Default)]
pub struct Primer(Option<libc::pid_t>);

/// The helper that our image before the protective re-exec forked, or a new one.
pub fn prime() -> Primer {
    if let Some(pid) = std::env::var(ENV).ok().and_then(|v| v.parse().ok()) {
        std::env::remove_var(ENV);
        return Primer(Some(pid));
    }
    // SAFETY: stage1 is single-threaded (DESIGN.md rule 3); the child reads two /proc
    // files, writes one cgroup file and leaves with _exit, running no destructor.
    match unsafe { sys::clone3(0) } {
        Ok(sys::Forked::Child) => {
            if let Some(procs) = own_procs() {
                let _ = std::fs::write(procs, "0");
            }
            sys::exit_now(0)
        }
        Ok(sys::Forked::Parent(pid)) => Primer(Some(pid)),
        Err(_) => Primer(None),
    }
}

/// `cgroup.procs` of our own cgroup in the first hierarchy the host has.
fn own_procs() -> Option<PathBuf> {
    let hs = super::hierarchies().ok()?;
    let h = hs.first()?;
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let own = super::own_cgroups_from(&own);
    let path = own
        .iter()
        .find(|(c, _)| {
            if h.is_v2() {
                c.is_empty()
            } else {
                *c == h.controllers
            }
        })
        .map_or("/", |(_, p)| p.as_str());
    Some(super::dir_in(h, path).join("cgroup.procs"))
}

impl Primer {
    /// The environment entry that hands the helper on across an exec of ourselves.
    pub fn env(&self) -> Option<CString> {
        self.0
            .and_then(|pid| CString::new(format!("{ENV}={pid}")).ok())
    }

    /// Reaps the helper if it is done (called once the init is joined). It may still be
    /// exiting: it pays for dissolving the protected binary's mount (see selfclone);
    /// then it stays a zombie only until we exit.
    pub fn reap(self) {
        drop(self);
    }
}

impl Drop for Primer {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            let _ = sys::waitpid(pid, true);
        }
    }
}
