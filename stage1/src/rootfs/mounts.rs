//! The `mounts` of config.json, in order, each onto a target resolved under the rootfs.

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::options::{self, MountOptions};
use super::path::{self, Make};
use super::{RootfsError, SetupCtx};
use crate::cgroups;
use crate::spec::Mount;
use crate::sys::{self, RESOLVE_IN_ROOT, RESOLVE_NO_SYMLINKS};

/// Flags that statfs reports and a bind remount must keep when the kernel has locked
/// them (a mount inherited into a user namespace): (ST_*, MS_*).
const LOCKED: &[(u64, u64)] = &[
    (1, libc::MS_RDONLY),
    (2, libc::MS_NOSUID),
    (4, libc::MS_NODEV),
    (8, libc::MS_NOEXEC),
    (1024, libc::MS_NOATIME),
    (2048, libc::MS_NODIRATIME),
    (4096, libc::MS_RELATIME),
];

fn c(s: &str) -> Result<CString, RootfsError> {
    CString::new(s).map_err(|_| RootfsError::Invalid(format!("`{s}` contains a NUL byte")))
}

fn merr(what: &str, dest: &Path, flags: u64) -> impl FnOnce(std::io::Error) -> RootfsError {
    let what = what.to_string();
    let dest = dest.to_path_buf();
    move |source| RootfsError::Mount {
        what,
        dest,
        flags: options::flag_names(flags),
        source,
    }
}

/// Mounts one entry of config.json.
pub fn mount(ctx: &SetupCtx<'_>, m: &Mount) -> Result<(), RootfsError> {
    let opts = options::parse(&m.options);
    let kind = m.kind.as_deref().unwrap_or("");
    let bind = opts.flags & libc::MS_BIND != 0 || kind == "bind";
    let dest = &m.destination;
    let target = if bind {
        bind_mount(ctx, m, &opts)?
    } else if kind == "cgroup" {
        return mount_cgroup(ctx, dest, &opts);
    } else {
        let target =
            path::open_or_make(ctx.root, dest, Make::Dir).map_err(RootfsError::target(dest))?;
        if matches!(kind, "proc" | "sysfs") {
            refuse_symlink(ctx.root, dest)?;
        } else {
            refuse_inside_procfs(target.as_fd(), dest)?;
        }
        let src = m
            .source
            .as_ref()
            .map_or_else(|| c(kind), |s| c(&s.to_string_lossy()))?;
        let fstype = c(kind)?;
        let data = c(&opts.data)?;
        let flags = opts.flags & !libc::MS_REMOUNT;
        let r = sys::mount(
            Some(&src),
            &sys::fd_path(target.as_fd()),
            Some(&fstype),
            flags,
            Some(&data),
        );
        match r {
            // A sysfs needs a network namespace owned by our user namespace; without
            // one, bind the host's (runc does the same).
            Err(e) if kind == "sysfs" && e.raw_os_error() == Some(libc::EPERM) => {
                sys::mount(
                    Some(c"/sys"),
                    &sys::fd_path(target.as_fd()),
                    None,
                    libc::MS_BIND | libc::MS_REC,
                    None,
                )
                .map_err(merr("sysfs", dest, flags))?;
                remount(ctx.root, dest, libc::MS_BIND | (flags & !libc::MS_BIND))?;
            }
            other => other.map_err(merr(kind, dest, flags))?,
        }
        target
    };
    drop(target);
    apply_propagation_and_attrs(ctx.root, dest, &opts)
}

fn bind_mount(ctx: &SetupCtx<'_>, m: &Mount, opts: &MountOptions) -> Result<OwnedFd, RootfsError> {
    let dest = &m.destination;
    let source = m.source.as_ref().ok_or_else(|| {
        RootfsError::Invalid(format!("bind mount to `{}` has no source", dest.display()))
    })?;
    let source: PathBuf = if source.is_absolute() {
        source.clone()
    } else {
        ctx.bundle.join(source)
    };
    let meta = std::fs::metadata(&source).map_err(|e| RootfsError::Source {
        path: source.clone(),
        source: e,
    })?;
    let make = if meta.is_dir() { Make::Dir } else { Make::File };
    let target = path::open_or_make(ctx.root, dest, make).map_err(RootfsError::target(dest))?;
    refuse_inside_procfs(target.as_fd(), dest)?;
    let flags = libc::MS_BIND | (opts.flags & libc::MS_REC);
    let src = sys::cstr(&source).map_err(|e| RootfsError::Source {
        path: source.clone(),
        source: e,
    })?;
    sys::mount(Some(&src), &sys::fd_path(target.as_fd()), None, flags, None).map_err(merr(
        &source.to_string_lossy(),
        dest,
        flags,
    ))?;
    let extra = opts.flags & !(libc::MS_BIND | libc::MS_REC | libc::MS_REMOUNT);
    if extra != 0 {
        remount(ctx.root, dest, libc::MS_BIND | extra)?;
    }
    Ok(target)
}

/// Remounts the mount at `dest` with `flags`, adding the flags the kernel locked if
/// the first try is refused.
pub fn remount(root: BorrowedFd<'_>, dest: &Path, flags: u64) -> Result<(), RootfsError> {
    let fd = path::open(root, dest).map_err(RootfsError::target(dest))?;
    remount_fd(fd.as_fd(), dest, flags)
}

pub fn remount_fd(fd: BorrowedFd<'_>, dest: &Path, flags: u64) -> Result<(), RootfsError> {
    let target = sys::fd_path(fd);
    let flags = flags | libc::MS_REMOUNT;
    match sys::mount(None, &target, None, flags, None) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            let st = sys::fstatfs_flags(fd).map_err(merr("statfs", dest, flags))?;
            let locked = LOCKED
                .iter()
                .filter(|(s, _)| st & s != 0)
                .fold(0, |a, (_, m)| a | m);
            sys::mount(None, &target, None, flags | locked, None).map_err(merr(
                "remount",
                dest,
                flags | locked,
            ))
        }
        other => other.map_err(merr("remount", dest, flags)),
    }
}

fn apply_propagation_and_attrs(
    root: BorrowedFd<'_>,
    dest: &Path,
    opts: &MountOptions,
) -> Result<(), RootfsError> {
    if opts.propagation.is_empty() && opts.attr_set == 0 && opts.attr_clr == 0 {
        return Ok(());
    }
    let fd = path::open(root, dest).map_err(RootfsError::target(dest))?;
    for &p in &opts.propagation {
        sys::mount(None, &sys::fd_path(fd.as_fd()), None, p, None).map_err(merr(
            "propagation",
            dest,
            p,
        ))?;
    }
    if opts.attr_set != 0 || opts.attr_clr != 0 {
        sys::mount_setattr_recursive(fd.as_fd(), opts.attr_set, opts.attr_clr).map_err(merr(
            "mount_setattr",
            dest,
            0,
        ))?;
    }
    Ok(())
}

/// Files lxcfs and similar tools legitimately mount over inside /proc.
const PROC_OVERLAYS: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
];

/// Nothing but a proc mount may land on the container's procfs (other than lxcfs's
/// files): a mount whose destination resolves into /proc through a symlink in the
/// image could shadow a sysctl or an LSM attribute file that we write later (runc's
/// checkProcMount).
fn refuse_inside_procfs(target: BorrowedFd<'_>, dest: &Path) -> Result<(), RootfsError> {
    if sys::fs_type(target).ok() != Some(sys::PROC_SUPER_MAGIC)
        || PROC_OVERLAYS.iter().any(|p| dest == Path::new(p))
    {
        return Ok(());
    }
    Err(RootfsError::Invalid(format!(
        "mount destination `{}` is inside procfs: refused",
        dest.display()
    )))
}

/// proc and sysfs must land on a real directory, not wherever a symlink in the
/// image points (runc's CVE-2019-19921 class).
fn refuse_symlink(root: BorrowedFd<'_>, dest: &Path) -> Result<(), RootfsError> {
    match sys::openat2(
        root,
        &path::relative(dest),
        libc::O_PATH,
        0,
        RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS,
    ) {
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => Err(RootfsError::Invalid(format!(
            "mount destination `{}` is a symlink",
            dest.display()
        ))),
        _ => Ok(()),
    }
}

/// A `cgroup` mount: cgroup2 on a unified host; on v1 and hybrid hosts a tmpfs with
/// one directory per hierarchy, each the container's own cgroup (mounted in the cgroup
/// namespace, or bound from the host without one).
fn mount_cgroup(ctx: &SetupCtx<'_>, dest: &Path, opts: &MountOptions) -> Result<(), RootfsError> {
    let hs = cgroups::hierarchies().map_err(|e| RootfsError::Invalid(e.to_string()))?;
    let target =
        path::open_or_make(ctx.root, dest, Make::Dir).map_err(RootfsError::target(dest))?;
    let flags = opts.flags & !libc::MS_REMOUNT;
    if hs.iter().all(cgroups::Hierarchy::is_v2) {
        sys::mount(
            Some(c"cgroup"),
            &sys::fd_path(target.as_fd()),
            Some(c"cgroup2"),
            flags,
            None,
        )
        .map_err(merr("cgroup2", dest, flags))?;
        return Ok(());
    }
    let tmpfs_flags =
        (flags & !libc::MS_RDONLY) | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    sys::mount(
        Some(c"tmpfs"),
        &sys::fd_path(target.as_fd()),
        Some(c"tmpfs"),
        tmpfs_flags,
        Some(c"mode=755"),
    )
    .map_err(merr("tmpfs", dest, tmpfs_flags))?;
    for h in &hs {
        let name = if h.is_v2() {
            "unified".to_string()
        } else {
            h.controllers
                .iter()
                .map(|c| c.strip_prefix("name=").unwrap_or(c))
                .collect::<Vec<_>>()
                .join(",")
        };
        let sub = dest.join(&name);
        let fd =
            path::open_or_make(ctx.root, &sub, Make::Dir).map_err(RootfsError::target(&sub))?;
        let host_dir = ctx.cgroup_paths.iter().find(|p| p.starts_with(&h.mount));
        let mounted = ctx.cgroupns && {
            let (fstype, data): (&CStr, CString) = if h.is_v2() {
                (c"cgroup2", CString::default())
            } else {
                (c"cgroup", c(&h.controllers.join(","))?)
            };
            sys::mount(
                Some(c"cgroup"),
                &sys::fd_path(fd.as_fd()),
                Some(fstype),
                flags,
                Some(&data),
            )
            .is_ok()
        };
        if !mounted {
            let src = host_dir.cloned().unwrap_or_else(|| h.mount.clone());
            let s = sys::cstr(&src).map_err(|e| RootfsError::Source {
                path: src.clone(),
                source: e,
            })?;
            sys::mount(
                Some(&s),
                &sys::fd_path(fd.as_fd()),
                None,
                libc::MS_BIND | libc::MS_REC,
                None,
            )
            .map_err(merr(&src.to_string_lossy(), &sub, libc::MS_BIND))?;
            let extra = flags & !(libc::MS_BIND | libc::MS_REC);
            if extra != 0 {
                remount(ctx.root, &sub, libc::MS_BIND | extra)?;
            }
        }
        // `cpu,cpuacct` is also reachable as `cpu` and `cpuacct`, as on the host.
        if name.contains(',') {
            let (dir, _) =
                path::parent_and_name(ctx.root, &sub).map_err(RootfsError::target(&sub))?;
            for part in name.split(',') {
                let _ = sys::symlinkat(Path::new(&name), dir.as_fd(), Path::new(part));
            }
        }
    }
    if flags & libc::MS_RDONLY != 0 {
        remount(ctx.root, dest, tmpfs_flags | libc::MS_RDONLY)?;
    }
    Ok(())
}
