//! The parent side of create: clone3 the init into its namespaces and its cgroups
//! (see cgroups::Joiner), map its ids, run the runtime-namespace hooks when it asks,
//! and return once it waits for start.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::init::{self, InitArgs};
use super::sync::{self, Msg, SyncError};
use crate::namespaces::{self, NsError};
use crate::spec::Spec;
use crate::{cgroups, hooks, sys};

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(transparent)]
    Ns(#[from] NsError),
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error(transparent)]
    Cgroup(#[from] cgroups::CgroupError),
    #[error(transparent)]
    Hook(#[from] hooks::HookError),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error(transparent)]
    Console(#[from] super::console::ConsoleError),
    #[error("{0}")]
    Init(String),
    #[error("{step}")]
    Io {
        step: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

fn io(step: impl Into<String>) -> impl FnOnce(std::io::Error) -> LaunchError {
    let step = step.into();
    move |source| LaunchError::Io { step, source }
}

pub struct LaunchArgs<'a> {
    pub id: &'a str,
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub fifo: &'a Path,
    pub console_socket: Option<&'a Path>,
    /// An already connected console socket (foreground `run` proxying the pty itself).
    pub console_fd: Option<std::os::fd::BorrowedFd<'a>>,
    pub no_new_keyring: bool,
    pub no_pivot: bool,
    pub preserve_fds: u32,
    pub cgroup_paths: &'a [PathBuf],
    /// The container's cgroups, made and opened (none with cgroups disabled).
    pub cgroups: Option<&'a cgroups::Joiner>,
    pub seccomp: Option<&'a crate::seccomp::Compiled>,
    /// The sealed exec shim the init execs the process through (see selfclone), if any.
    pub exec_shim: Option<std::os::fd::BorrowedFd<'a>>,
    /// fds of the caller the init must not keep (the state dir's flock: a copy held by
    /// the waiting init would block `start` forever).
    pub close_in_init: &'a [std::os::fd::RawFd],
}

/// Kills and reaps the init if setup fails half way.
struct KillGuard(Option<libc::pid_t>);

impl Drop for KillGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = sys::kill(pid, libc::SIGKILL);
            let _ = sys::waitpid(pid, false);
        }
    }
}

/// Starts the init; returns its host pid once it waits for `start`.
pub fn launch(a: &LaunchArgs<'_>) -> Result<libc::pid_t, LaunchError> {
    let plan = namespaces::plan(a.spec)?;
    if !plan.has("mount") {
        return Err(LaunchError::Invalid("a mount namespace is required".into()));
    }
    let process = a
        .spec
        .process
        .as_ref()
        .ok_or_else(|| LaunchError::Invalid("process is missing".into()))?;
    let console = super::console::connect(process.terminal, a.console_fd, a.console_socket)?;
    // systemd socket activation: LISTEN_FDS are passed on as fds 3.. (runc does this).
    let mut extra_env = Vec::new();
    let mut preserve = a.preserve_fds;
    if let Some(n) = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        extra_env.push(format!("LISTEN_FDS={n}"));
        extra_env.push("LISTEN_PID=1".to_string());
        preserve += n;
    }
    super::apply::answer_before_fork();
    let (psock, csock) = sys::seqpacket_pair().map_err(io("create sync socket"))?;
    // Opened before any writer exists, so poll in the init reports nothing until start.
    let fifo = sys::openat(None, a.fifo, libc::O_RDONLY | libc::O_NONBLOCK, 0)
        .map_err(io(format!("open `{}`", a.fifo.display())))?;
    namespaces::enter_in_parent(&plan, a.spec)?;

    // SAFETY: stage1 is single-threaded (no thread is ever started).
    let forked = unsafe {
        match a.cgroups {
            Some(j) => j.clone3(plan.clone_flags),
            None => sys::clone3(plan.clone_flags).map(|f| (f, false)),
        }
    };
    let (forked, v2_by_pid) = forked.map_err(io("clone3 the container init"))?;
    match forked {
        sys::Forked::Child => {
            drop(psock);
            for fd in a.close_in_init {
                // SAFETY: the caller names fds whose owners are never used in the child.
                unsafe { sys::close_inherited(*fd) };
            }
            init::run(&InitArgs {
                spec: a.spec,
                bundle: a.bundle,
                rootfs: a.rootfs,
                plan: &plan,
                sock: csock.as_fd(),
                console: console.as_ref().map(AsFd::as_fd),
                fifo: fifo.as_fd(),
                no_pivot: a.no_pivot,
                preserve_fds: preserve,
                extra_env: &extra_env,
                cgroup_paths: a.cgroup_paths,
                keyring: (!a.no_new_keyring).then_some(a.id),
                seccomp: a.seccomp,
                cgroups: a.cgroups,
                exec_shim: a.exec_shim,
            })
        }
        sys::Forked::Parent(pid) => {
            drop(csock);
            drop(fifo);
            let mut guard = KillGuard(Some(pid));
            if v2_by_pid {
                if let Some(j) = a.cgroups {
                    j.join_v2(pid)?;
                }
            }
            drive(a, &plan, pid, psock)?;
            guard.0 = None;
            Ok(pid)
        }
    }
}

fn drive(
    a: &LaunchArgs<'_>,
    plan: &namespaces::Plan,
    pid: libc::pid_t,
    sock: OwnedFd,
) -> Result<(), LaunchError> {
    if plan.new_user {
        namespaces::write_id_maps(pid, a.spec)?;
    }
    send(sock.as_fd(), &Msg::Go)?;
    if let Some(adj) = a.spec.process.as_ref().and_then(|p| p.oom_score_adj) {
        std::fs::write(format!("/proc/{pid}/oom_score_adj"), adj.to_string())
            .map_err(io(format!("set oom_score_adj to {adj}")))?;
    }
    send(sock.as_fd(), &Msg::CgroupJoined)?;
    loop {
        match sync::recv(sock.as_fd())? {
            Msg::RunHooks => {
                let state = hook_state(a, pid, "creating");
                let h = a.spec.hooks();
                hooks::run("prestart", &h.prestart, state.as_bytes())?;
                hooks::run("createRuntime", &h.create_runtime, state.as_bytes())?;
                sync::send(
                    sock.as_fd(),
                    &Msg::HooksDone {
                        state: hook_state(a, pid, "created"),
                    },
                )?;
            }
            Msg::SeccompFd => {
                let fd = sys::recv_fd(sock.as_fd()).map_err(io("receive the seccomp notify fd"))?;
                let (path, meta) = seccomp_listener(a.spec).ok_or_else(|| {
                    LaunchError::Invalid("seccomp notify needs linux.seccomp.listenerPath".into())
                })?;
                let state =
                    serde_json::from_str(&hook_state(a, pid, "creating")).unwrap_or_default();
                crate::seccomp::send_to_listener(&path, meta.as_deref(), pid, state, fd.as_fd())?;
            }
            Msg::Ready => return Ok(()),
            Msg::Error { message, .. } => return Err(LaunchError::Init(message)),
            other => {
                return Err(SyncError::Unexpected {
                    expected: "ready",
                    got: other,
                }
                .into())
            }
        }
    }
}

/// Sends to the init; if it is gone, its own error message (already queued on the
/// socket) says why, rather than "broken pipe".
fn send(sock: std::os::fd::BorrowedFd<'_>, m: &Msg) -> Result<(), LaunchError> {
    match sync::send(sock, m) {
        Ok(()) => Ok(()),
        Err(e) => match sync::recv(sock) {
            Ok(Msg::Error { message, .. }) => Err(LaunchError::Init(message)),
            _ => Err(e.into()),
        },
    }
}

/// listenerPath and listenerMetadata of the config's seccomp profile.
pub fn seccomp_listener(spec: &Spec) -> Option<(String, Option<String>)> {
    let s = spec.linux().seccomp.as_ref()?;
    let path = s.get("listenerPath")?.as_str()?.to_string();
    let meta = s
        .get("listenerMetadata")
        .and_then(|m| m.as_str())
        .map(str::to_string);
    Some((path, meta))
}

/// The state JSON hooks read on stdin.
pub fn hook_state(a: &LaunchArgs<'_>, pid: libc::pid_t, status: &str) -> String {
    let mut v = serde_json::json!({
        "ociVersion": crate::OCI_VERSION,
        "id": a.id,
        "status": status,
        "pid": pid,
        "bundle": a.bundle,
    });
    if !a.spec.annotations.is_empty() {
        v["annotations"] = serde_json::json!(a.spec.annotations);
    }
    v.to_string()
}
