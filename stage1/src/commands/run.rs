//! `run`: create and start; in the foreground, pass signals on, wait for the process,
//! delete the container and exit with the process's status (runc's behaviour). With
//! `terminal: true` and no --console-socket, the pty is proxied to our own stdio.
//! With `NOTIFY_SOCKET`, the container's notifications are passed on (notify.rs): by
//! `run --detach` until READY with MAINPID the container's init, as `start` does; in the
//! foreground for as long as the container lives, with MAINPID our own pid (runc's).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use anyhow::{Context, Result};

use super::Ctx;
use crate::cli::RunArgs;
use crate::container::Container;
use crate::notify::Listener;
use crate::process::pty_proxy;
use crate::spec::Spec;
use crate::{logging, sys};

/// Signals a foreground `run` or `exec` passes on to its process.
pub const FORWARDED: &[i32] = &[
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGTERM,
    libc::SIGALRM,
    libc::SIGCONT,
    libc::SIGWINCH,
];

pub fn run(args: &RunArgs, ctx: &Ctx) -> Result<i32> {
    let id = &args.create.id;
    let own_pty = !args.detach
        && args.create.console_socket.is_none()
        && Spec::load(&args.create.bundle)
            .ok()
            .and_then(|s| s.process)
            .is_some_and(|p| p.terminal);
    let pair = if own_pty {
        Some(UnixStream::pair().context("create console socket pair")?)
    } else {
        None
    };
    let mut c = super::create::create(
        &args.create,
        ctx,
        pair.as_ref().map(|(_, b)| b.as_fd()),
        true,
    )?;
    let pid = c.state.pid;
    let master: Option<OwnedFd> = match &pair {
        Some((ours, _)) => match sys::recv_fd(ours.as_fd()) {
            Ok(m) => Some(m),
            Err(e) => {
                drop(c);
                abort(ctx, id, pid);
                return Err(e).context("receive the pty master");
            }
        },
        None => None,
    };
    drop(pair);
    // Started as created, under the lock create took: nothing can come in between.
    if args.detach {
        let started = super::start::start_container(&mut c);
        drop(c);
        match started {
            Ok(Some(n)) => n.wait_ready()?,
            Ok(None) => {}
            Err(e) => {
                abort(ctx, id, pid);
                return Err(e);
            }
        }
        return Ok(0);
    }
    // Block the signals before start so none is lost between start and the wait loop.
    let (sigfd, _old) = sys::signalfd(FORWARDED).context("set up signal forwarding")?;
    let started = super::start::start_container(&mut c);
    // The lock goes before the wait: kill, state and delete take it meanwhile.
    drop(c);
    let notify = match started {
        Ok(n) => n,
        Err(e) => {
            abort(ctx, id, pid);
            return Err(e);
        }
    };
    let code = match &master {
        Some(m) => pty_proxy::proxy(m, pid, &sigfd, notify.as_ref())
            .context("proxy the container's terminal")?,
        None => wait_notify(pid, &sigfd, notify.as_ref())?,
    };
    if !args.keep {
        destroy(ctx, id);
    }
    Ok(code)
}

/// Waits for our child `pid`, passing forwarded signals on; returns its exit status.
pub fn wait(pid: libc::pid_t, sigfd: &OwnedFd) -> Result<i32> {
    wait_notify(pid, sigfd, None)
}

/// `wait`, passing the container's notifications on too.
fn wait_notify(pid: libc::pid_t, sigfd: &OwnedFd, notify: Option<&Listener>) -> Result<i32> {
    let pidfd = sys::pidfd_open(pid).context("watch the container process")?;
    loop {
        let mut fds = [
            libc::pollfd {
                fd: pidfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: sigfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: notify.map_or(-1, |n| n.as_fd().as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        sys::poll(&mut fds, -1).context("wait for the container process")?;
        if let (Some(n), true) = (notify, fds[2].revents != 0) {
            n.forward_foreground();
        }
        if fds[1].revents & libc::POLLIN != 0 {
            let sig = sys::read_signal(sigfd.as_fd()).context("read signal")?;
            let _ = sys::pidfd_send_signal(pidfd.as_fd(), sig);
        }
        if fds[0].revents & libc::POLLIN != 0 {
            if let Some((_, exit)) =
                sys::waitpid(pid, false).context("reap the container process")?
            {
                return Ok(exit.status());
            }
        }
    }
}

/// Kills our init child (the state on disk may not name it yet), then removes the rest.
fn abort(ctx: &Ctx, id: &str, pid: libc::pid_t) {
    let _ = sys::kill(pid, libc::SIGKILL);
    let _ = sys::waitpid(pid, false);
    destroy(ctx, id);
}

/// Removes the container after its process ended (or when start failed).
fn destroy(ctx: &Ctx, id: &str) {
    match Container::load(&ctx.root, id, true) {
        Ok(c) => {
            if let Err(e) = super::delete::delete(&c, true) {
                logging::warn(&logging::chain(e.as_ref()));
            }
        }
        Err(e) => logging::warn(&e.to_string()),
    }
}
