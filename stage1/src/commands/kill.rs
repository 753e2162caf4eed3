//! `kill`: a signal to the init, or with `--all` to every process in the cgroup.

use anyhow::{anyhow, bail, Result};

use super::Ctx;
use crate::cli::KillArgs;
use crate::container::{Container, Status};
use crate::{cgroups, signal, sys};

pub fn run(args: &KillArgs, ctx: &Ctx) -> Result<i32> {
    let sig =
        signal::parse(&args.signal).ok_or_else(|| anyhow!("invalid signal `{}`", args.signal))?;
    let c = Container::load(&ctx.root, &args.id, false)?;
    if c.status() == Status::Stopped {
        bail!("container not running");
    }
    if args.all && !c.state.cgroup_paths.is_empty() {
        for pid in cgroups::pids(&c.state.cgroup_paths) {
            let _ = sys::kill(pid, sig);
        }
        return Ok(0);
    }
    // A pidfd names exactly our init, even if its pid were reused meanwhile.
    let pidfd = sys::pidfd_open(c.state.pid).map_err(|_| anyhow!("container not running"))?;
    if c.status() == Status::Stopped {
        bail!("container not running");
    }
    sys::pidfd_send_signal(std::os::fd::AsFd::as_fd(&pidfd), sig)
        .map_err(|e| anyhow!("send signal {sig} to container init: {e}"))?;
    Ok(0)
}
