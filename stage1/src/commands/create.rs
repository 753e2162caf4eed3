//! `create`: validate the bundle, make the state dir, launch the init, make its cgroup
//! and join it, record the state. Any failure removes all of it again (DESIGN.md rule 5).

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::Ctx;
use crate::cgroups;
use crate::cli::CreateArgs;
use crate::container::{Container, State};
use crate::process::launch::{launch, LaunchArgs};
use crate::spec::{self, Spec};
use crate::sys;

/// Undoes a half-made create when dropped unarmed.
struct Cleanup {
    dir: Option<PathBuf>,
    cgroups: Vec<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        cgroups::remove(&self.cgroups);
        if let Some(d) = self.dir.take() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn absolute(p: &Path) -> Result<PathBuf> {
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().context("get cwd")?.join(p)
    };
    // Normalise `.` and trailing slashes without touching symlinks.
    Ok(p.components().collect())
}

/// root.path, relative to the bundle; it must be a directory.
fn rootfs_of(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    let root_path = spec
        .root
        .as_ref()
        .map(|r| r.path.clone())
        .unwrap_or_default();
    let rootfs = if root_path.is_absolute() {
        root_path
    } else {
        bundle.join(root_path)
    };
    if !rootfs.is_dir() {
        bail!(
            "rootfs `{}` does not exist or is not a directory",
            rootfs.display()
        );
    }
    Ok(rootfs)
}

/// Creates the container; returns it, still locked (its init pid is `state.pid`).
/// With `start_next` (`run`), the record with the init's pid is left to `start`, which
/// writes it anyway a moment later: one state write less. Until then the state on
/// disk reads "creating", which `delete --force` cleans up should `run` die.
pub fn create(
    args: &CreateArgs,
    ctx: &Ctx,
    console_fd: Option<std::os::fd::BorrowedFd<'_>>,
    start_next: bool,
) -> Result<Container> {
    crate::container::validate_id(&args.id)?;
    let bundle = absolute(&args.bundle)?;
    let mut spec = Spec::load(&bundle)?;
    spec::validate(&spec)?;
    let rootfs = rootfs_of(&spec, &bundle)?;
    let resources = cgroups::Resources::from_value(spec.linux().resources.as_ref())
        .context("parse linux.resources")?;
    let seccomp = crate::seccomp::prepare(&ctx.root, spec.linux().seccomp.as_ref())?;
    let planned = if ctx.cgroups_disabled {
        None
    } else {
        Some(cgroups::plan(
            spec.linux().cgroups_path.as_deref(),
            &args.id,
            ctx.systemd_cgroup,
        )?)
    };
    // `run`'s init execs through the shim, or we re-execute here (see selfclone).
    let exec_shim = if start_next {
        let guard = crate::selfclone::run_guard(&ctx.root, &spec);
        // Above the preserved fds, which the init makes inheritable.
        let min = i32::try_from(3 + u64::from(args.preserve_fds)).unwrap_or(i32::MAX);
        match guard? {
            Some(fd) => {
                Some(sys::dup_cloexec_from(fd.as_fd(), min).context("move the exec shim's fd")?)
            }
            None => None,
        }
    } else {
        None
    };
    let dir = Container::create_dir(&ctx.root, &args.id)?;
    let mut cleanup = Cleanup {
        dir: Some(dir.clone()),
        cgroups: planned.as_ref().map(|p| p.dirs.clone()).unwrap_or_default(),
    };
    crate::notify::prepare(&dir, &mut spec)?;
    let fifo = dir.join("exec.fifo");
    sys::mkfifo(&fifo, 0o622).with_context(|| format!("create `{}`", fifo.display()))?;
    // A first record before anything runs, so that `delete --force` can clean up after
    // a create that crashed (pid 0 and the fifo read as "creating"). Held locked until
    // create is done, so that a delete waits rather than races.
    let lock = crate::container::lock_dir(&dir)?;
    let mut state = State {
        id: args.id.clone(),
        pid: 0,
        start_time: 0,
        bundle: bundle.clone(),
        rootfs: rootfs.clone(),
        created: crate::time::rfc3339_now(),
        owner: String::new(),
        annotations: spec.annotations.clone(),
        cgroup_paths: cleanup.cgroups.clone(),
        config: Default::default(),
        started: false,
    };
    state.write(&dir)?;
    let joiner = match &planned {
        Some(p) => {
            cgroups::make(p, &resources, &spec.linux().devices)?;
            Some(cgroups::Joiner::open(&p.dirs)?)
        }
        None => None,
    };

    let pid = launch(&LaunchArgs {
        id: &args.id,
        spec: &spec,
        bundle: &bundle,
        rootfs: &rootfs,
        fifo: &fifo,
        console_socket: args.console_socket.as_deref(),
        console_fd,
        no_new_keyring: args.no_new_keyring,
        seccomp: seccomp.as_ref(),
        close_in_init: &[std::os::fd::AsRawFd::as_raw_fd(&lock)],
        no_pivot: args.no_pivot,
        preserve_fds: args.preserve_fds,
        cgroup_paths: &cleanup.cgroups,
        cgroups: joiner.as_ref(),
        exec_shim: exec_shim.as_ref().map(AsFd::as_fd),
    })?;
    let kill_init = |e: anyhow::Error| {
        let _ = sys::kill(pid, libc::SIGKILL);
        let _ = sys::waitpid(pid, false);
        e
    };
    let start_time = crate::container::proc_start_time(pid)
        .map(|(t, _)| t)
        .unwrap_or(0);
    state.pid = pid;
    state.start_time = start_time;
    state.config = spec;
    if !start_next {
        state.write(&dir).map_err(|e| kill_init(e.into()))?;
    }
    if let Some(pf) = &args.pid_file {
        write_pid_file(pf, pid).map_err(kill_init)?;
    }
    cleanup.dir = None;
    cleanup.cgroups.clear();
    Ok(Container::from_created(dir, state, lock))
}

/// Writes the pid file atomically (containerd reads it as soon as create returns).
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    std::fs::write(&tmp, pid.to_string())
        .with_context(|| format!("write pid file `{}`", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("write pid file `{}`", path.display()))
}

pub fn run(args: &CreateArgs, ctx: &Ctx) -> Result<i32> {
    create(args, ctx, None, false).map(|_| 0)
}
