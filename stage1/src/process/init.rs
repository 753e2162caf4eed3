//! The container's init, from clone3 to execve: a flat sequence of named steps, like
//! runc's standard_init_linux.go. Runs in the child, single-threaded (DESIGN.md rule 3).
//! Until `Ready` every failure goes back to create over the sync socket as
//! `{errno, message}`; after it, to the container's stderr.

use std::convert::Infallible;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use super::apply::{self, ApplyError};
use super::sync::{self, Msg, SyncError};
use crate::namespaces::{self, Plan};
use crate::rootfs;
use crate::spec::Spec;
use crate::{hooks, logging, sys};

/// Everything the init needs, prepared by the parent before clone3.
pub struct InitArgs<'a> {
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub plan: &'a Plan,
    pub sock: BorrowedFd<'a>,
    pub console: Option<BorrowedFd<'a>>,
    /// The read end of the exec fifo, opened by the parent: in a new user namespace
    /// the init could no longer open the state dir.
    pub fifo: BorrowedFd<'a>,
    pub no_pivot: bool,
    /// fds 3.. kept open for the process (`--preserve-fds` plus LISTEN_FDS).
    pub preserve_fds: u32,
    pub extra_env: &'a [String],
    pub cgroup_paths: &'a [PathBuf],
    pub seccomp: Option<&'a crate::seccomp::Compiled>,
    /// Join a new session keyring of this name (runc's default; off with --no-new-keyring).
    pub keyring: Option<&'a str>,
    /// The container's cgroups, which the init joins first thing (see cgroups::Joiner).
    pub cgroups: Option<&'a crate::cgroups::Joiner>,
    /// The sealed exec shim to exec the process through (see selfclone), if any.
    pub exec_shim: Option<BorrowedFd<'a>>,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error(transparent)]
    Ns(#[from] namespaces::NsError),
    #[error(transparent)]
    Rootfs(#[from] rootfs::RootfsError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error(transparent)]
    Hook(#[from] hooks::HookError),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error("{step}")]
    Io {
        step: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(step: impl Into<String>) -> impl FnOnce(std::io::Error) -> InitError {
    let step = step.into();
    move |source| InitError::Io { step, source }
}

/// The errno at the bottom of an error chain, if there is one.
pub fn errno_of(e: &(dyn std::error::Error + 'static)) -> i32 {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return io.raw_os_error().unwrap_or(0);
        }
        cur = err.source();
    }
    0
}

/// Runs the init; never returns.
pub fn run(a: &InitArgs<'_>) -> ! {
    let mut ready = false;
    let err = match steps(a, &mut ready) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    let message = logging::chain(&err);
    if ready {
        eprintln!("hoist-runtime: {message}");
    } else {
        let _ = sync::send(
            a.sock,
            &Msg::Error {
                errno: errno_of(&err),
                message,
            },
        );
    }
    let code = match &err {
        InitError::Apply(e) => e.exit_code(),
        _ => 1,
    };
    sys::exit_now(code)
}

fn steps(a: &InitArgs<'_>, ready: &mut bool) -> Result<Infallible, InitError> {
    let spec = a.spec;
    let process = spec
        .process
        .as_ref()
        .ok_or_else(|| io("no process")(std::io::Error::from_raw_os_error(libc::EINVAL)))?;
    // Into the v1 cgroups before anything else (v2: born there).
    if let Some(j) = a.cgroups {
        j.join_self()?;
    }
    // Nobody may ptrace or read our memory through /proc until exec.
    sys::prctl(libc::PR_SET_DUMPABLE, 0).map_err(io("make init non-dumpable"))?;
    sync::expect(a.sock, "go", |m| matches!(m, Msg::Go))?;
    apply::seal_fds(a.preserve_fds)?;

    enter_namespaces(a)?;
    sys::setsid().map_err(io("setsid"))?;
    set_names(spec)?;
    if let Some(name) = a.keyring {
        join_keyring(name)?;
    }
    // Device nodes and mount targets get exactly the modes asked for.
    sys::umask(0);

    let prep = rootfs::Prepare {
        rootfs: a.rootfs,
        bundle: a.bundle,
        userns: a.plan.has("user"),
        cgroupns: a.plan.new_cgroup,
        cgroup_paths: a.cgroup_paths,
    };
    let mut joined = false;
    let mut after_cgroup_join = || -> Result<(), InitError> {
        if !joined {
            joined = true;
            sync::expect(a.sock, "cgroup_joined", |m| matches!(m, Msg::CgroupJoined))?;
            if a.plan.new_cgroup {
                sys::unshare(libc::CLONE_NEWCGROUP).map_err(io("create cgroup namespace"))?;
            }
        }
        Ok(())
    };
    rootfs::prepare(&prep, spec, &mut || {
        after_cgroup_join().map_err(|e| rootfs::RootfsError::Invalid(logging::chain(&e)))
    })?;
    after_cgroup_join()?;
    sync::send(a.sock, &Msg::RunHooks)?;
    let state = match sync::recv(a.sock)? {
        Msg::HooksDone { state } => state.into_bytes(),
        other => {
            return Err(SyncError::Unexpected {
                expected: "hooks_done",
                got: other,
            }
            .into())
        }
    };
    hooks::run("createContainer", &spec.hooks().create_container, &state)?;
    rootfs::pivot(a.rootfs, a.no_pivot)?;
    rootfs::finalize(spec)?;

    let prepared = apply::prepare(process, a.console, a.extra_env, a.seccomp, true)?;
    if let Some(fd) = &prepared.notify_fd {
        // The parent passes it on to the listener (our own syscalls may be notified).
        sync::send(a.sock, &Msg::SeccompFd)?;
        sys::send_fd(a.sock, b"seccomp", fd.as_fd()).map_err(io("send the seccomp notify fd"))?;
    }

    sync::send(a.sock, &Msg::Ready)?;
    *ready = true;
    wait_for_start(a.fifo)?;
    hooks::run("startContainer", &spec.hooks().start_container, &state)?;

    Err(apply::exec(&prepared, a.preserve_fds, a.exec_shim).into())
}

fn enter_namespaces(a: &InitArgs<'_>) -> Result<(), InitError> {
    if a.plan.new_user {
        become_root()?;
    }
    namespaces::join_in_child(a.plan)?;
    if a.plan.joins.iter().any(|j| j.kind == "user") {
        become_root()?;
    }
    Ok(())
}

/// A session keyring of the container's own, so that keys do not leak between
/// containers and the host. Hosts with keyrings disabled are tolerated, as runc does.
fn join_keyring(name: &str) -> Result<(), InitError> {
    let c = std::ffi::CString::new(format!("_ses.{name}"))
        .map_err(|_| io("keyring name")(std::io::Error::from_raw_os_error(libc::EINVAL)))?;
    match sys::join_session_keyring(&c) {
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOSYS | libc::EACCES | libc::EDQUOT)
            ) =>
        {
            Ok(())
        }
        other => other.map_err(io("join a new session keyring")),
    }
}

/// In a user namespace, become its root (uid and gid 0 must be mapped).
fn become_root() -> Result<(), InitError> {
    sys::setresgid(0).map_err(io("setgid 0 in the user namespace"))?;
    sys::setresuid(0).map_err(io("setuid 0 in the user namespace"))
}

fn set_names(spec: &Spec) -> Result<(), InitError> {
    if let Some(h) = spec.hostname.as_deref().filter(|h| !h.is_empty()) {
        sys::sethostname(h).map_err(io(format!("set hostname `{h}`")))?;
    }
    if let Some(d) = spec.domainname.as_deref().filter(|d| !d.is_empty()) {
        sys::setdomainname(d).map_err(io(format!("set domainname `{d}`")))?;
    }
    Ok(())
}

/// Blocks until `start` writes a byte into the exec fifo. Our read end was opened
/// before any writer existed, so poll reports nothing (not even HUP) until one comes.
fn wait_for_start(fifo: BorrowedFd<'_>) -> Result<(), InitError> {
    sys::poll_one(fifo, libc::POLLIN, -1).map_err(io("wait for start"))?;
    match sys::read_byte(fifo).map_err(io("read start signal"))? {
        Some(_) => Ok(()),
        None => Err(io("start signal channel closed")(
            std::io::Error::from_raw_os_error(libc::EPIPE),
        )),
    }
}
