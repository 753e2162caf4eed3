//! `start`: release the waiting init through the exec fifo, then run poststart hooks.

use anyhow::{bail, Context, Result};
use std::os::fd::AsFd;

use super::Ctx;
use crate::container::{Container, Status};
use crate::{hooks, sys};

pub fn start(id: &str, ctx: &Ctx) -> Result<()> {
    let mut c = Container::load(&ctx.root, id, true)?;
    start_container(&mut c)
}

/// Starts a loaded (and locked) container.
pub fn start_container(c: &mut Container) -> Result<()> {
    match c.status() {
        Status::Created => {}
        Status::Stopped => bail!("cannot start a container that has stopped"),
        s => bail!("cannot start an already {} container", s.as_str()),
    }
    let fifo = c.fifo_path();
    let fd = match sys::openat(None, &fifo, libc::O_WRONLY | libc::O_NONBLOCK, 0) {
        // No reader: the init is gone.
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => bail!("container not running"),
        other => other.with_context(|| format!("open `{}`", fifo.display()))?,
    };
    sys::write_all(fd.as_fd(), b"0").context("signal the container to start")?;
    // poststart hooks run once the process was exec'd: the init holds the fifo's read
    // end close-on-exec, and a fifo with no reader left reports POLLERR to its writer.
    sys::poll_one(fd.as_fd(), 0, -1).context("wait for the container process to start")?;
    drop(fd);
    let _ = std::fs::remove_file(&fifo);
    c.state.started = true;
    c.save()?;
    let state = c.state.oci_json(Status::Running).to_string();
    hooks::run_all(
        "poststart",
        &c.state.config.hooks().poststart,
        state.as_bytes(),
    );
    Ok(())
}

pub fn run(id: &str, ctx: &Ctx) -> Result<i32> {
    start(id, ctx).map(|()| 0)
}
