//! `exec`'s process: join every namespace of the container's init (pid and time in the
//! parent, since they only apply to children; user first and mount last in the child),
//! join its cgroup, then apply the process and exec, as the init would. The child stays
//! non-dumpable until exec, so nothing in the container can reach our memory or our
//! binary through /proc (the CVE-2019-5736 class).

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::apply;
use super::sync::{self, Msg};
use crate::spec::Process;
use crate::{cgroups, logging, sys};

#[derive(Debug, thiserror::Error)]
pub enum EnterError {
    #[error("{step}")]
    Io {
        step: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Child(String),
    #[error(transparent)]
    Cgroup(#[from] cgroups::CgroupError),
    #[error(transparent)]
    Sync(#[from] sync::SyncError),
}

fn io(step: impl Into<String>) -> impl FnOnce(std::io::Error) -> EnterError {
    let step = step.into();
    move |source| EnterError::Io { step, source }
}

/// /proc/PID/ns names in join order, with their clone flags.
const NS: &[(&str, i32)] = &[
    ("user", libc::CLONE_NEWUSER),
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("net", libc::CLONE_NEWNET),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("mnt", libc::CLONE_NEWNS),
];

fn same_ns(pid: i32, name: &str) -> bool {
    let a = std::fs::metadata(format!("/proc/self/ns/{name}"));
    let b = std::fs::metadata(format!("/proc/{pid}/ns/{name}"));
    use std::os::unix::fs::MetadataExt;
    matches!((a, b), (Ok(a), Ok(b)) if a.ino() == b.ino() && a.dev() == b.dev())
}

pub struct EnterArgs<'a> {
    pub init_pid: i32,
    pub process: &'a Process,
    pub cgroup_paths: &'a [PathBuf],
    pub console_socket: Option<&'a Path>,
    pub preserve_fds: u32,
    pub seccomp: Option<&'a crate::seccomp::Compiled>,
    /// listenerPath and listenerMetadata for SCMP_ACT_NOTIFY.
    pub listener: Option<(String, Option<String>)>,
    /// The container's state, for the listener.
    pub state: serde_json::Value,
}

/// Starts the process; returns its host pid once it exec'd.
pub fn enter(a: &EnterArgs<'_>) -> Result<libc::pid_t, EnterError> {
    let pid = a.init_pid;
    // Open every namespace first: the init could exit while we work.
    let mut joins: Vec<(OwnedFd, i32, &str)> = Vec::new();
    for &(name, flag) in NS {
        if !same_ns(pid, name) {
            let p = PathBuf::from(format!("/proc/{pid}/ns/{name}"));
            let fd = sys::openat(None, &p, libc::O_RDONLY, 0)
                .map_err(io(format!("open `{}`", p.display())))?;
            joins.push((fd, flag, name));
        }
    }
    // pid and time namespaces apply to children only: join them here, before the fork.
    for (name, flag) in [("pid", libc::CLONE_NEWPID), ("time", libc::CLONE_NEWTIME)] {
        if !same_ns(pid, name) {
            let p = PathBuf::from(format!("/proc/{pid}/ns/{name}"));
            let fd = sys::openat(None, &p, libc::O_RDONLY, 0)
                .map_err(io(format!("open `{}`", p.display())))?;
            sys::setns(fd.as_fd(), flag)
                .map_err(io(format!("join {name} namespace of pid {pid}")))?;
        }
    }
    let console = super::console::connect(a.process.terminal, None, a.console_socket)
        .map_err(|e| EnterError::Child(logging::chain(&e)))?;
    let (psock, csock) = sys::seqpacket_pair().map_err(io("create sync socket"))?;
    apply::answer_before_fork();
    // Born in the v2 cgroup, moving itself into the v1 ones (see cgroups::Joiner).
    let joiner = cgroups::Joiner::open(a.cgroup_paths)?;
    // SAFETY: stage1 is single-threaded.
    let (forked, v2_by_pid) = unsafe { joiner.clone3(0) }.map_err(io("fork the exec process"))?;
    match forked {
        sys::Forked::Child => {
            drop(psock);
            let err = match joiner.join_self() {
                Ok(()) => child(a, &joins, console.as_ref().map(AsFd::as_fd), csock.as_fd()),
                Err(e) => (logging::chain(&e), 1),
            };
            let _ = sync::send(
                csock.as_fd(),
                &Msg::Error {
                    errno: 0,
                    message: err.0,
                },
            );
            sys::exit_now(err.1)
        }
        sys::Forked::Parent(child_pid) => {
            drop(csock);
            let fail = |e: EnterError| {
                let _ = sys::kill(child_pid, libc::SIGKILL);
                let _ = sys::waitpid(child_pid, false);
                e
            };
            if v2_by_pid {
                joiner.join_v2(child_pid).map_err(|e| fail(e.into()))?;
            }
            sync::send(psock.as_fd(), &Msg::Go).map_err(|e| fail(e.into()))?;
            // The socket is close-on-exec: end of file means the exec succeeded.
            loop {
                match sync::recv(psock.as_fd()) {
                    Err(sync::SyncError::Closed) => return Ok(child_pid),
                    Ok(Msg::Error { message, .. }) => {
                        let _ = sys::waitpid(child_pid, false);
                        return Err(EnterError::Child(message));
                    }
                    Ok(Msg::SeccompFd) => {
                        forward_notify_fd(a, child_pid, psock.as_fd()).map_err(&fail)?
                    }
                    Ok(_) => {
                        return Err(fail(EnterError::Child(
                            "unexpected message from exec process".into(),
                        )))
                    }
                    Err(e) => return Err(fail(e.into())),
                }
            }
        }
    }
}

fn forward_notify_fd(
    a: &EnterArgs<'_>,
    pid: i32,
    sock: std::os::fd::BorrowedFd<'_>,
) -> Result<(), EnterError> {
    let fd = sys::recv_fd(sock).map_err(io("receive the seccomp notify fd"))?;
    let Some((path, meta)) = &a.listener else {
        return Err(EnterError::Child(
            "seccomp notify needs linux.seccomp.listenerPath".into(),
        ));
    };
    crate::seccomp::send_to_listener(path, meta.as_deref(), pid, a.state.clone(), fd.as_fd())
        .map_err(|e| EnterError::Child(logging::chain(&e)))
}

/// The child: never returns; gives back (message, exit code) on failure.
fn child(
    a: &EnterArgs<'_>,
    joins: &[(OwnedFd, i32, &str)],
    console: Option<std::os::fd::BorrowedFd<'_>>,
    sock: std::os::fd::BorrowedFd<'_>,
) -> (String, i32) {
    let r = (|| -> Result<std::convert::Infallible, (String, i32)> {
        let e = |step: String| move |err: std::io::Error| (format!("{step}: {err}"), 1);
        sys::prctl(libc::PR_SET_DUMPABLE, 0).map_err(e("make exec process non-dumpable".into()))?;
        sync::expect(sock, "go", |m| matches!(m, Msg::Go)).map_err(|x| (x.to_string(), 1))?;
        apply::seal_fds(a.preserve_fds).map_err(|x| (logging::chain(&x), 1))?;
        for (fd, flag, name) in joins {
            sys::setns(fd.as_fd(), *flag).map_err(e(format!("join {name} namespace")))?;
        }
        sys::setsid().map_err(e("setsid".into()))?;
        let p = apply::prepare(a.process, console, &[], a.seccomp, false)
            .map_err(|x| (logging::chain(&x), x.exit_code()))?;
        if let Some(fd) = &p.notify_fd {
            sync::send(sock, &Msg::SeccompFd).map_err(|x| (x.to_string(), 1))?;
            sys::send_fd(sock, b"seccomp", fd.as_fd())
                .map_err(e("send the seccomp notify fd".into()))?;
        }
        let x = apply::exec(&p, a.preserve_fds, None);
        Err((logging::chain(&x), x.exit_code()))
    })();
    match r {
        Err(x) => x,
        Ok(never) => match never {},
    }
}
