//! What both the init and an `exec`'d process apply to themselves before execve, in
//! runc's order: console, rlimits, bounding set, user (keeping capabilities across the
//! uid change), capability sets, no_new_privs, cwd (checked to be inside), umask; then
//! the program lookup, and the exec itself with every unpreserved fd closed.

use std::ffi::CString;
use std::os::fd::BorrowedFd;
use std::path::Path;

use super::{caps, console, exec};
use crate::seccomp::Compiled;
use crate::spec::{validate::rlimit_resource, Process, User};
use crate::{logging, sys};

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Caps(#[from] caps::CapsError),
    #[error(transparent)]
    Console(#[from] console::ConsoleError),
    #[error(transparent)]
    Exec(#[from] exec::ExecError),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error("{step}")]
    Io {
        step: String,
        #[source]
        source: std::io::Error,
    },
}

impl ApplyError {
    /// The shell's convention for a program that could not be run.
    pub fn exit_code(&self) -> i32 {
        match self {
            ApplyError::Exec(exec::ExecError::NotFound(_) | exec::ExecError::Missing(_)) => 127,
            ApplyError::Exec(_) => 126,
            _ => 1,
        }
    }
}

fn io(step: impl Into<String>) -> impl FnOnce(std::io::Error) -> ApplyError {
    let step = step.into();
    move |source| ApplyError::Io { step, source }
}

/// The program, argv and envp, ready for execve.
pub struct Prepared {
    /// A filter still to load right before execve (no_new_privs set, no notify).
    late_seccomp: Option<Compiled>,
    /// The SCMP_ACT_NOTIFY fd, for the caller to pass on to the listener.
    pub notify_fd: Option<std::os::fd::OwnedFd>,
    prog: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    name: String,
}

/// Applies `process` to the calling process (inside the container's namespaces and root).
///
/// The seccomp filter is loaded as late as it can be: right before execve when
/// no_new_privs is set, else while CAP_SYS_ADMIN is still held (before the user
/// switch), and before the caller reports ready when it notifies (its fd must be sent).
pub fn prepare(
    process: &Process,
    console_socket: Option<BorrowedFd<'_>>,
    extra_env: &[String],
    seccomp: Option<&Compiled>,
    bind_console: bool,
) -> Result<Prepared, ApplyError> {
    if process.terminal {
        let sock = console_socket.ok_or_else(|| {
            io("terminal: no console socket")(std::io::Error::from_raw_os_error(libc::EINVAL))
        })?;
        console::setup(sock, process.console_size, bind_console)?;
    }
    for r in &process.rlimits {
        let res = rlimit_resource(&r.kind).unwrap_or(u32::MAX);
        sys::setrlimit(res, r.soft, r.hard).map_err(io(format!(
            "setrlimit {} (soft {}, hard {})",
            r.kind, r.soft, r.hard
        )))?;
    }
    let masks = process
        .capabilities
        .as_ref()
        .map(|c| caps::masks(c, &mut |w| logging::warn(w)));
    if let Some(m) = &masks {
        caps::drop_bounding(m.bounding)?;
    }
    let cwd = Path::new(&process.cwd);
    let early_cd = sys::chdir(cwd);
    let early_seccomp = seccomp.filter(|c| !process.no_new_privileges || c.notify);
    let mut notify_fd = None;
    if let Some(c) = early_seccomp {
        if process.no_new_privileges {
            sys::prctl2(libc::PR_SET_NO_NEW_PRIVS, 1, 0).map_err(io("set no_new_privs"))?;
        }
        notify_fd = crate::seccomp::load(c)?;
    }
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
    // The cwd must be inside the container (the CVE-2024-21626 class: a leaked fd as cwd
    // shows as "(unreachable)/…", which is not absolute).
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
    env.extend(extra_env.iter().cloned());
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        // runc's rule: HOME from the container's /etc/passwd, else "/".
        env.push(format!("HOME={}", home_of(process.user.uid)));
    }
    let name = process.args.first().cloned().unwrap_or_default();
    Ok(Prepared {
        late_seccomp: seccomp.filter(|_| early_seccomp.is_none()).cloned(),
        notify_fd,
        prog: exec::find(&name, &env)?,
        argv: exec::cstrings(&process.args)?,
        envp: exec::cstrings(&env)?,
        name,
    })
}

/// Answers, before a fork, what the child asks later: it then needs neither /proc
/// (no longer ours once it left our root) nor dozens of syscalls (see
/// `sys::ignored_signals`, `caps::last_cap`).
pub fn answer_before_fork() {
    caps::last_cap();
    sys::ignored_signals();
}

/// The home directory of `uid` in the container's /etc/passwd (read after pivot_root).
fn home_of(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[5].to_string())
        })
        .find(|h| !h.is_empty())
        .unwrap_or_else(|| "/".to_string())
}

/// Marks every fd above the preserved ones close-on-exec and the preserved ones
/// inheritable (DESIGN.md rule 2). Called first thing in the child of clone, before any
/// seccomp filter could forbid close_range.
pub fn seal_fds(preserve_fds: u32) -> Result<(), ApplyError> {
    sys::cloexec_from(3 + preserve_fds).map_err(io("close fds"))?;
    for fd in 3..3 + preserve_fds {
        sys::clear_cloexec(i32::try_from(fd).unwrap_or(i32::MAX))
            .map_err(io(format!("preserve fd {fd}")))?;
    }
    Ok(())
}

/// setgroups, setgid, setuid, keeping the permitted capabilities across the uid change
/// when the config sets capabilities (they are applied right after).
fn switch_user(user: &User, keep_caps: bool) -> Result<(), ApplyError> {
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

/// Closes every fd above the preserved ones (DESIGN.md rule 2) and execs, through the
/// exec shim when one is given (see selfclone); returns only on failure.
pub fn exec(p: &Prepared, preserve_fds: u32, shim: Option<BorrowedFd<'_>>) -> ApplyError {
    // Done already by `seal_fds` before any seccomp filter; repeated for fds opened
    // since (all of ours are close-on-exec anyway). A profile without close_range
    // (many allow-lists) refuses it here, which is why this one may fail.
    let _ = sys::cloexec_from(3 + preserve_fds);
    sys::reset_signal_dispositions();
    if let Some(c) = &p.late_seccomp {
        if let Err(e) = crate::seccomp::load(c) {
            return e.into();
        }
    }
    let envp = sys::CStrArray::new(&p.envp);
    let e = match shim {
        Some(fd) => {
            // The shim takes the program's path, then its argv.
            let mut argv: Vec<&std::ffi::CStr> = Vec::with_capacity(p.argv.len() + 1);
            argv.push(&p.prog);
            argv.extend(p.argv.iter().map(CString::as_c_str));
            sys::fexecve(fd, &sys::CStrArray::from_refs(&argv), &envp)
        }
        None => sys::execve(&p.prog, &sys::CStrArray::new(&p.argv), &envp),
    };
    exec::ExecError::Exec {
        path: p.name.clone(),
        source: e,
    }
    .into()
}
