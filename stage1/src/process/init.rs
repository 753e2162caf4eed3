//! The container's init, from clone3 to execve: a flat sequence of named steps, like
//! runc's standard_init_linux.go. Runs in the child, single-threaded (DESIGN.md rule 3).
//! Until `Ready` every failure goes back to create over the sync socket as
//! `{errno, message}`; after it, to the container's stderr.

use std::convert::Infallible;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use super::sync::{self, Msg, SyncError};
use super::{caps, console, exec};
use crate::namespaces::{self, Plan};
use crate::rootfs;
use crate::spec::{validate::rlimit_resource, Spec};
use crate::{hooks, logging, sys};

/// Everything the init needs, prepared by the parent before clone3.
pub struct InitArgs<'a> {
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub plan: &'a Plan,
    pub sock: BorrowedFd<'a>,
    pub console: Option<BorrowedFd<'a>>,
    pub fifo: &'a Path,
    pub no_pivot: bool,
    /// fds 3.. kept open for the process (`--preserve-fds` plus LISTEN_FDS).
    pub preserve_fds: u32,
    pub extra_env: &'a [String],
    pub cgroup_paths: &'a [PathBuf],
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
    Caps(#[from] caps::CapsError),
    #[error(transparent)]
    Console(#[from] console::ConsoleError),
    #[error(transparent)]
    Exec(#[from] exec::ExecError),
    #[error(transparent)]
    Hook(#[from] hooks::HookError),
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
        InitError::Exec(exec::ExecError::NotFound(_) | exec::ExecError::Missing(_)) => 127,
        InitError::Exec(_) => 126,
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
    // Nobody may ptrace or read our memory through /proc until exec.
    sys::prctl(libc::PR_SET_DUMPABLE, 0).map_err(io("make init non-dumpable"))?;
    sync::expect(a.sock, "go", |m| matches!(m, Msg::Go))?;

    enter_namespaces(a)?;
    sys::setsid().map_err(io("setsid"))?;
    set_names(spec)?;
    // Device nodes and mount targets get exactly the modes asked for.
    sys::umask(0);
    let fifo = sys::openat(None, a.fifo, libc::O_RDONLY | libc::O_NONBLOCK, 0)
        .map_err(io(format!("open `{}`", a.fifo.display())))?;

    let prep = rootfs::Prepare {
        rootfs: a.rootfs,
        bundle: a.bundle,
        userns: a.plan.has("user"),
        cgroupns: a.plan.new_cgroup,
        cgroup_paths: a.cgroup_paths,
    };
    rootfs::prepare(&prep, spec)?;
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

    if process.terminal {
        let sock = a.console.ok_or_else(|| {
            io("terminal: no console socket")(std::io::Error::from_raw_os_error(libc::EINVAL))
        })?;
        console::setup(sock, process.console_size)?;
    }
    set_rlimits(process)?;
    let masks = process
        .capabilities
        .as_ref()
        .map(|c| caps::masks(c, &mut |w| logging::warn(w)));
    if let Some(m) = &masks {
        caps::drop_bounding(m.bounding)?;
    }
    let cwd = Path::new(&process.cwd);
    let early_cd = sys::chdir(cwd);
    switch_user(&process.user, masks.is_some())?;
    if let Some(m) = &masks {
        caps::apply(m)?;
    }
    if process.no_new_privileges {
        sys::prctl2(libc::PR_SET_NO_NEW_PRIVS, 1, 0).map_err(io("set no_new_privs"))?;
    }
    if early_cd.is_err() {
        sys::chdir(cwd).map_err(io(format!("chdir to cwd `{}`", cwd.display())))?;
    }
    // The cwd must be inside the container (the CVE-2024-21626 class: a leaked fd as cwd).
    match sys::getcwd() {
        Ok(p) if p.starts_with("/") => {}
        _ => {
            return Err(io("cwd is outside the container")(
                std::io::Error::from_raw_os_error(libc::EPERM),
            ))
        }
    }
    sys::umask(process.user.umask.unwrap_or(0o022));

    let mut env = process.env.clone();
    env.extend(a.extra_env.iter().cloned());
    let prog = exec::find(&process.args[0], &env)?;
    let argv = exec::cstrings(&process.args)?;
    let envp = exec::cstrings(&env)?;

    sync::send(a.sock, &Msg::Ready)?;
    *ready = true;
    wait_for_start(fifo.as_fd())?;
    drop(fifo);
    hooks::run("startContainer", &spec.hooks().start_container, &state)?;

    sys::cloexec_from(3 + a.preserve_fds).map_err(io("close fds"))?;
    for fd in 3..3 + a.preserve_fds {
        sys::clear_cloexec(i32::try_from(fd).unwrap_or(i32::MAX))
            .map_err(io(format!("preserve fd {fd}")))?;
    }
    sys::reset_signal_dispositions();
    let argv = sys::CStrArray::new(&argv);
    let envp = sys::CStrArray::new(&envp);
    let e = sys::execve(&prog, &argv, &envp);
    Err(exec::ExecError::Exec {
        path: process.args[0].clone(),
        source: e,
    }
    .into())
}

fn enter_namespaces(a: &InitArgs<'_>) -> Result<(), InitError> {
    if a.plan.new_user {
        become_root()?;
    }
    namespaces::join_in_child(a.plan)?;
    if a.plan.joins.iter().any(|j| j.kind == "user") {
        become_root()?;
    }
    if a.plan.new_cgroup {
        sys::unshare(libc::CLONE_NEWCGROUP).map_err(io("create cgroup namespace"))?;
    }
    Ok(())
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

fn set_rlimits(process: &crate::spec::Process) -> Result<(), InitError> {
    for r in &process.rlimits {
        let res = rlimit_resource(&r.kind).unwrap_or(u32::MAX);
        sys::setrlimit(res, r.soft, r.hard).map_err(io(format!(
            "setrlimit {} (soft {}, hard {})",
            r.kind, r.soft, r.hard
        )))?;
    }
    Ok(())
}

/// setgroups, setgid, setuid, keeping the permitted capabilities across the uid change
/// when the config sets capabilities (they are applied right after).
fn switch_user(user: &crate::spec::User, keep_caps: bool) -> Result<(), InitError> {
    if keep_caps {
        sys::prctl2(libc::PR_SET_KEEPCAPS, 1, 0).map_err(io("set keepcaps"))?;
    }
    match sys::setgroups(&user.additional_gids) {
        // A user namespace with setgroups denied: only an empty list could be asked.
        Err(e) if e.raw_os_error() == Some(libc::EPERM) && user.additional_gids.is_empty() => {}
        other => other.map_err(io("setgroups"))?,
    }
    sys::setresgid(user.gid).map_err(io(format!("setgid {}", user.gid)))?;
    sys::setresuid(user.uid).map_err(io(format!("setuid {}", user.uid)))?;
    if keep_caps {
        sys::prctl2(libc::PR_SET_KEEPCAPS, 0, 0).map_err(io("clear keepcaps"))?;
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
