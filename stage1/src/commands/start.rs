//! `start`: release the waiting init through the exec fifo, then run poststart hooks.
//! With `NOTIFY_SOCKET` set, wait for the container's READY and pass it on (notify.rs).

use anyhow::{bail, Context, Result};
use std::os::fd::AsFd;

use super::Ctx;
use crate::container::{Container, Status};
use crate::notify::Listener;
use crate::{hooks, sys};

/// Starts the container; returns its notify listener when the caller has a
/// NOTIFY_SOCKET and create made the container a notify dir (bound before the release,
/// so that no early message is lost).
pub fn start(id: &str, ctx: &Ctx) -> Result<Option<Listener>> {
    let mut c = Container::load(&ctx.root, id, true)?;
    start_container(&mut c)
}

/// Starts a loaded (and locked) container; with a NOTIFY_SOCKET, returns the listener
/// to wait on once the lock is released.
pub fn start_container(c: &mut Container) -> Result<Option<Listener>> {
    match c.status() {
        Status::Created => {}
        Status::Stopped => bail!("cannot start a container that has stopped"),
        s => bail!("cannot start an already {} container", s.as_str()),
    }
    let notify = Listener::bind(&c.dir, c.state.pid)?;
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
    Ok(notify)
}

pub fn run(id: &str, ctx: &Ctx) -> Result<i32> {
    // The state lock is released before the wait: kill, state and delete work meanwhile.
    if let Some(n) = start(id, ctx)? {
        n.wait_ready()?;
    }
    Ok(0)
}
