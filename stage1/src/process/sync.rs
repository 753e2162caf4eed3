//! The create/init protocol over a SOCK_SEQPACKET pair: one JSON message per packet.
//! The child reports failures as `{errno, message}` so that create prints what really
//! failed (STYLE.md).

use std::os::fd::BorrowedFd;

use serde::{Deserialize, Serialize};

use crate::sys;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Msg {
    /// Parent → init: ids are mapped; go on.
    Go,
    /// Parent → init: the cgroup is joined (the init needs that before it makes its
    /// cgroup namespace and mounts cgroupfs; the join itself waits for an RCU grace
    /// period, so the init does its other mounts meanwhile).
    CgroupJoined,
    /// Init → parent: mounts are done; run prestart and createRuntime hooks.
    RunHooks,
    /// Parent → init: the hooks ran; the state JSON for the container's own hooks.
    HooksDone { state: String },
    /// Init → parent: waiting for start.
    Ready,
    /// Child → parent: the seccomp notify fd follows as SCM_RIGHTS.
    SeccompFd,
    /// Init → parent: setup failed.
    Error { errno: i32, message: String },
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("sync with container init: {0}")]
    Io(#[from] std::io::Error),
    #[error("container init exited during setup")]
    Closed,
    #[error("sync with container init: bad message")]
    Bad,
    #[error("sync with container init: expected {expected}, got {got:?}")]
    Unexpected { expected: &'static str, got: Msg },
}

pub fn send(fd: BorrowedFd<'_>, m: &Msg) -> Result<(), SyncError> {
    let buf = serde_json::to_vec(m).map_err(|_| SyncError::Bad)?;
    sys::send(fd, &buf)?;
    Ok(())
}

pub fn recv(fd: BorrowedFd<'_>) -> Result<Msg, SyncError> {
    let mut buf = vec![0u8; 64 * 1024];
    let n = sys::recv(fd, &mut buf)?;
    if n == 0 {
        return Err(SyncError::Closed);
    }
    serde_json::from_slice(&buf[..n]).map_err(|_| SyncError::Bad)
}

/// Waits for one particular message (the init side: `Go`, `HooksDone`).
pub fn expect(
    fd: BorrowedFd<'_>,
    expected: &'static str,
    want: fn(&Msg) -> bool,
) -> Result<(), SyncError> {
    let m = recv(fd)?;
    if want(&m) {
        Ok(())
    } else {
        Err(SyncError::Unexpected { expected, got: m })
    }
}
