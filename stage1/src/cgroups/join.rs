//! Putting a new container init into its cgroups without the kernel's global
//! threadgroup lock.
//!
//! A write of a pid to `cgroup.procs` takes `cgroup_threadgroup_rwsem` for writing,
//! which after a quiet spell first waits for an RCU grace period: 2 to 20 ms on these
//! VMs, often more than all the rest of `create`, and with `cgroup_mutex` held all the
//! while (every other cgroup mkdir on the host waits too). Two moves skip that lock:
//!
//! - on the v2 hierarchy, clone3's CLONE_INTO_CGROUP: the init is born in its cgroup
//!   (fork only takes the lock's read side);
//! - on a v1 hierarchy, a thread writing "0" (itself) into `tasks`: the kernel needs no
//!   threadgroup stability for a single thread moving itself, and the init is a
//!   single-threaded process. We open the `tasks` files before clone3, so that the
//!   init writes with our open-time credentials (the kernel checks those), also from
//!   a new user namespace whose ids are not mapped yet.
//!
//! Where CLONE_INTO_CGROUP is refused (kernels before 5.7, or the cgroup's own rules),
//! the init is cloned without it and we write its pid into the v2 `cgroup.procs`, as
//! before.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use super::CgroupError;
use crate::sys;

const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// The container's cgroups, opened for joining them.
pub struct Joiner {
    /// The v2 directory (O_PATH), for CLONE_INTO_CGROUP.
    v2: Option<(PathBuf, OwnedFd)>,
    /// Each v1 hierarchy's `tasks` file, open for writing.
    v1_tasks: Vec<(PathBuf, OwnedFd)>,
}

impl Joiner {
    /// Opens the container's cgroup directories (one per hierarchy; v2 or v1 by the
    /// filesystem they are on).
    pub fn open(dirs: &[PathBuf]) -> Result<Joiner, CgroupError> {
        let mut j = Joiner {
            v2: None,
            v1_tasks: Vec::new(),
        };
        for dir in dirs {
            let err = |source| CgroupError::Join {
                path: dir.clone(),
                source,
            };
            let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
            let fd = sys::openat(None, dir, flags, 0).map_err(err)?;
            if sys::fs_type(fd.as_fd()).map_err(err)? == CGROUP2_SUPER_MAGIC {
                j.v2 = Some((dir.clone(), fd));
            } else {
                let tasks = dir.join("tasks");
                let fd =
                    sys::openat(None, &tasks, libc::O_WRONLY | libc::O_CLOEXEC, 0).map_err(err)?;
                j.v1_tasks.push((dir.clone(), fd));
            }
        }
        Ok(j)
    }

    /// The v2 directory to pass to clone3 with CLONE_INTO_CGROUP.
    pub fn clone_into(&self) -> Option<BorrowedFd<'_>> {
        self.v2.as_ref().map(|(_, fd)| fd.as_fd())
    }

    /// In the init, first thing: moves the calling (single-threaded) process into its
    /// cgroup on every v1 hierarchy.
    pub fn join_self(&self) -> Result<(), CgroupError> {
        for (dir, fd) in &self.v1_tasks {
            sys::write_all(fd.as_fd(), b"0").map_err(|source| CgroupError::Join {
                path: dir.clone(),
                source,
            })?;
        }
        Ok(())
    }

    /// clone3 with `flags`, the child born in our v2 cgroup where the kernel takes
    /// CLONE_INTO_CGROUP; `true` with the parent's result when it did not, and the v2
    /// cgroup is still to be joined by pid ([`Joiner::join_v2`]).
    ///
    /// # Safety
    /// As for `sys::clone3`: the caller is single-threaded.
    pub unsafe fn clone3(&self, flags: u64) -> std::io::Result<(sys::Forked, bool)> {
        let into = self.clone_into();
        // SAFETY: the caller's contract.
        match unsafe { sys::clone3_into(flags, into) } {
            Ok(f) => Ok((f, false)),
            // Refused (an old kernel, or the cgroup's own rules): the pid is written.
            // SAFETY: as above.
            Err(_) if into.is_some() => unsafe { sys::clone3(flags) }.map(|f| (f, true)),
            Err(e) => Err(e),
        }
    }

    /// When clone3 could not take CLONE_INTO_CGROUP: moves `pid` into the v2 cgroup.
    pub fn join_v2(&self, pid: libc::pid_t) -> Result<(), CgroupError> {
        match &self.v2 {
            Some((dir, _)) => super::join(std::slice::from_ref(dir), pid),
            None => Ok(()),
        }
    }
}
