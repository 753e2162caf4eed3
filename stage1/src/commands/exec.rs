//! `exec`: another process in a running container, built like runc builds it: the
//! container's own process config, overridden by --process or the flags.

use anyhow::{anyhow, bail, Context, Result};

use super::Ctx;
use crate::cli::ExecArgs;
use crate::container::{Container, Status};
use crate::process::enter::{enter, EnterArgs};
use crate::spec::{validate::validate_process, Process};

fn process(args: &ExecArgs, base: &Process) -> Result<Process> {
    if let Some(path) = &args.process {
        let data = std::fs::read(path).with_context(|| format!("read `{}`", path.display()))?;
        return serde_json::from_slice(&data)
            .with_context(|| format!("parse `{}`", path.display()));
    }
    if args.args.is_empty() {
        bail!("exec needs a command (ARGS) or --process");
    }
    let mut p = base.clone();
    p.args = args.args.clone();
    p.terminal = args.tty;
    p.console_size = None;
    p.env.extend(args.env.iter().cloned());
    if let Some(cwd) = &args.cwd {
        p.cwd = cwd.clone();
    }
    if let Some(u) = &args.user {
        let (uid, gid) = match u.split_once(':') {
            Some((a, b)) => (a, Some(b)),
            None => (u.as_str(), None),
        };
        p.user.uid = uid
            .parse()
            .map_err(|_| anyhow!("invalid --user `{u}`: want UID[:GID]"))?;
        p.user.gid = match gid {
            Some(g) => g
                .parse()
                .map_err(|_| anyhow!("invalid --user `{u}`: want UID[:GID]"))?,
            None => 0,
        };
    }
    if !args.additional_gids.is_empty() {
        p.user.additional_gids = args.additional_gids.clone();
    }
    if !args.cap.is_empty() {
        let mut caps = p.capabilities.clone().unwrap_or_default();
        // Bounding, effective and permitted only: adding them to the inheritable and
        // ambient sets too would let them survive into programs exec'd by the process
        // (CVE-2022-29162, which runc fixed in 1.1.2).
        for set in [&mut caps.bounding, &mut caps.effective, &mut caps.permitted] {
            let v = set.get_or_insert_with(Vec::new);
            v.extend(args.cap.iter().cloned());
        }
        p.capabilities = Some(caps);
    }
    if args.no_new_privs {
        p.no_new_privileges = true;
    }
    Ok(p)
}

pub fn run(args: &ExecArgs, ctx: &Ctx) -> Result<i32> {
    let c = Container::load(&ctx.root, &args.id, false)?;
    match c.status() {
        Status::Running | Status::Created => {}
        Status::Paused => bail!("cannot exec in a paused container"),
        _ => bail!("cannot exec in a stopped container: container not running"),
    }
    let base = c.state.config.process.clone().unwrap_or_default();
    let p = process(args, &base)?;
    validate_process(&p)?;
    if !args.detach && p.terminal && args.console_socket.is_none() {
        bail!("exec --tty needs --console-socket");
    }
    // The container's profile applies to exec'd processes too (rkt's enter did not:
    // CVE-2019-10144/10145/10147).
    let seccomp = crate::seccomp::prepare(&ctx.root, c.state.config.linux().seccomp.as_ref())?;
    // Signals are blocked before the fork so a foreground exec loses none.
    let sig = if args.detach {
        None
    } else {
        Some(crate::sys::signalfd(super::run::FORWARDED).context("set up signal forwarding")?)
    };
    let pid = enter(&EnterArgs {
        init_pid: c.state.pid,
        process: &p,
        cgroup_paths: &c.state.cgroup_paths,
        console_socket: args.console_socket.as_deref(),
        preserve_fds: args.preserve_fds,
        seccomp: seccomp.as_ref(),
        listener: crate::process::launch::seccomp_listener(&c.state.config),
        state: c.state.oci_json(Status::Running),
    })?;
    if let Some(pf) = &args.pid_file {
        super::create::write_pid_file(pf, pid)?;
    }
    match sig {
        None => Ok(0),
        Some((fd, _)) => super::run::wait(pid, &fd),
    }
}
