//! `pause` and `resume`: the freezer (v1 `freezer.state`, else v2 `cgroup.freeze`).

use anyhow::{bail, Result};

use super::Ctx;
use crate::cgroups;
use crate::container::{Container, Status};

pub fn pause(id: &str, ctx: &Ctx) -> Result<i32> {
    let c = Container::load(&ctx.root, id, true)?;
    match c.status() {
        Status::Running | Status::Created => {}
        Status::Paused => bail!("container {id} is already paused"),
        _ => bail!("container not running"),
    }
    cgroups::freeze(&c.state.cgroup_paths, true)?;
    Ok(0)
}

pub fn resume(id: &str, ctx: &Ctx) -> Result<i32> {
    let c = Container::load(&ctx.root, id, true)?;
    if c.status() != Status::Paused {
        bail!("container {id} is not paused");
    }
    cgroups::freeze(&c.state.cgroup_paths, false)?;
    Ok(0)
}
