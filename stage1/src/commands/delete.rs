//! `delete`: stop what still runs (created containers always, running ones with
//! --force), remove the cgroup, run poststop hooks, remove the state.

use std::os::fd::AsFd;

use anyhow::{bail, Result};

use super::Ctx;
use crate::cli::DeleteArgs;
use crate::container::{Container, ContainerError, Status};
use crate::{cgroups, hooks, sys};

pub fn run(args: &DeleteArgs, ctx: &Ctx) -> Result<i32> {
    let c = match Container::load(&ctx.root, &args.id, true) {
        // runc: deleting what is already gone is fine with --force (containerd relies on it).
        Err(ContainerError::NotExist(_)) if args.force => {
            // A create that died before its first record leaves only the directory.
            let dir = Container::dir_of(&ctx.root, &args.id);
            if crate::container::validate_id(&args.id).is_ok() && dir.is_dir() {
                let _ = std::fs::remove_dir_all(dir);
            }
            return Ok(0);
        }
        other => other?,
    };
    delete(&c, args.force)?;
    Ok(0)
}

pub fn delete(c: &Container, force: bool) -> Result<()> {
    match c.status() {
        Status::Stopped => {}
        Status::Created => kill_and_wait(c)?,
        // Only a crashed create is still "creating" once we hold its lock.
        Status::Creating => kill_cgroup(c),
        _ if force => kill_and_wait(c)?,
        s => bail!(
            "cannot delete container {} that is not stopped: {}",
            c.id,
            s.as_str()
        ),
    }
    cgroups::remove_checked(&c.state.cgroup_paths)?;
    let state = c.state.oci_json(Status::Stopped).to_string();
    hooks::run_all(
        "poststop",
        &c.state.config.hooks().poststop,
        state.as_bytes(),
    );
    c.remove_dir()?;
    Ok(())
}

/// SIGKILL to whatever is in the container's cgroup, until it is empty (bounded).
fn kill_cgroup(c: &Container) {
    cgroups::thaw(&c.state.cgroup_paths);
    for _ in 0..500 {
        let pids = cgroups::pids(&c.state.cgroup_paths);
        if pids.is_empty() {
            break;
        }
        for pid in pids {
            let _ = sys::kill(pid, libc::SIGKILL);
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// SIGKILL to every process of the container, then wait (bounded) for the init to die.
fn kill_and_wait(c: &Container) -> Result<()> {
    let pidfd = sys::pidfd_open(c.state.pid).ok();
    cgroups::thaw(&c.state.cgroup_paths);
    for pid in cgroups::pids(&c.state.cgroup_paths) {
        let _ = sys::kill(pid, libc::SIGKILL);
    }
    if let Some(fd) = &pidfd {
        // The pid could have been reused between the status check and pidfd_open.
        if c.status() != Status::Stopped {
            let _ = sys::pidfd_send_signal(fd.as_fd(), libc::SIGKILL);
            if sys::poll_one(fd.as_fd(), libc::POLLIN, 10_000)? == 0 {
                bail!(
                    "container {} init (pid {}) did not die after SIGKILL",
                    c.id,
                    c.state.pid
                );
            }
        }
    }
    // Processes that shared no pid namespace with the init may outlive it briefly.
    kill_cgroup(c);
    Ok(())
}
