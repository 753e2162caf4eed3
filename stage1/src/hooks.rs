//! OCI hooks: each one a program run with the state JSON on stdin, its own env, and an
//! optional timeout. Callers decide what a failure means (fatal for the create-time
//! hooks, a warning for poststart and poststop, as runtime-spec says).

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::process::{Command, Stdio};

use crate::spec::Hook;
use crate::sys;

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("run {kind} hook `{path}`")]
    Spawn {
        kind: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{kind} hook `{path}` failed: {status}{}", if stderr.is_empty() { String::new() } else { format!(": {stderr}") })]
    Failed {
        kind: &'static str,
        path: String,
        status: String,
        stderr: String,
    },
    #[error("{kind} hook `{path}` timed out after {secs}s")]
    Timeout {
        kind: &'static str,
        path: String,
        secs: i64,
    },
}

/// Runs every hook even when one fails, warning about each failure (runtime-spec's
/// rule for poststart and poststop).
pub fn run_all(kind: &'static str, hooks: &[Hook], state: &[u8]) {
    for h in hooks {
        if let Err(e) = run_one(kind, h, state) {
            crate::logging::warn(&crate::logging::chain(&e));
        }
    }
}

/// Runs `hooks` in order; stops at the first failure.
pub fn run(kind: &'static str, hooks: &[Hook], state: &[u8]) -> Result<(), HookError> {
    for h in hooks {
        run_one(kind, h, state)?;
    }
    Ok(())
}

fn run_one(kind: &'static str, h: &Hook, state: &[u8]) -> Result<(), HookError> {
    let path = h.path.display().to_string();
    let spawn_err = |source| HookError::Spawn {
        kind,
        path: path.clone(),
        source,
    };
    let mut cmd = Command::new(&h.path);
    if let Some((arg0, rest)) = h.args.split_first() {
        std::os::unix::process::CommandExt::arg0(&mut cmd, arg0);
        cmd.args(rest);
    }
    cmd.env_clear();
    for e in &h.env {
        if let Some((k, v)) = e.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // Its own process group, so that a timeout kills whatever the hook started too.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().map_err(spawn_err)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine (EPIPE ignored).
        let _ = stdin.write_all(state);
    }
    let pid = libc::pid_t::try_from(child.id()).unwrap_or(0);
    if let Some(secs) = h.timeout.filter(|t| *t > 0) {
        let pidfd = sys::pidfd_open(pid).map_err(spawn_err)?;
        let ms = i32::try_from(secs.saturating_mul(1000)).unwrap_or(i32::MAX);
        let ready = sys::poll_one(pidfd.as_fd(), libc::POLLIN, ms).map_err(spawn_err)?;
        if ready == 0 {
            let _ = sys::kill(-pid, libc::SIGKILL);
            let _ = child.kill();
            let _ = child.wait();
            return Err(HookError::Timeout { kind, path, secs });
        }
    }
    let status = child.wait().map_err(spawn_err)?;
    if status.success() {
        return Ok(());
    }
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    Err(HookError::Failed {
        kind,
        path,
        status: status.to_string(),
        stderr: stderr.trim().to_string(),
    })
}
