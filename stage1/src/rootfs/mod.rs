//! The container's root file system: prepare (propagation, the rootfs bind, the mounts,
//! /dev), pivot into it, then finalize (masked and read-only paths, read-only root,
//! sysctls). Every path inside the rootfs is resolved under it through fds.

mod devices;
mod masked;
mod mounts;
mod options;
pub mod path;
mod pivot;

pub use options::propagation_flag;
pub use pivot::pivot;

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use crate::spec::Spec;
use crate::sys;

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("mount {what} on `{}` ({flags})", dest.display())]
    Mount {
        what: String,
        dest: PathBuf,
        flags: String,
        #[source]
        source: std::io::Error,
    },
    #[error("open mount target `{}`", path.display())]
    Target {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("mount source `{}`", path.display())]
    Source {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{step} device `{}`", path.display())]
    Device {
        step: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{step} `{}`", path.display())]
    Io {
        step: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

impl RootfsError {
    fn target(p: &Path) -> impl FnOnce(std::io::Error) -> RootfsError + '_ {
        move |source| RootfsError::Target {
            path: p.to_path_buf(),
            source,
        }
    }
    fn io<'a>(step: &'static str, p: &'a Path) -> impl FnOnce(std::io::Error) -> RootfsError + 'a {
        move |source| RootfsError::Io {
            step,
            path: p.to_path_buf(),
            source,
        }
    }
}

/// What the mount steps need to know besides the config.
pub struct SetupCtx<'a> {
    /// The rootfs (after its self-bind), as an O_PATH directory fd.
    pub root: BorrowedFd<'a>,
    pub bundle: &'a Path,
    /// In a new user namespace: no mknod, locked mount flags.
    pub userns: bool,
    /// In a new cgroup namespace: cgroup file systems can be mounted directly.
    pub cgroupns: bool,
    /// The container's cgroup directories on the host.
    pub cgroup_paths: &'a [PathBuf],
}

/// What `prepare` is told by the init.
pub struct Prepare<'a> {
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub userns: bool,
    pub cgroupns: bool,
    pub cgroup_paths: &'a [PathBuf],
}

/// Everything before pivot_root. Runs in the container's new mount namespace.
///
/// `before_cgroup_mount` runs once, before the first `cgroup` mount: the init must be in
/// its cgroup (and its cgroup namespace) by then.
pub fn prepare(
    p: &Prepare<'_>,
    spec: &Spec,
    before_cgroup_mount: &mut dyn FnMut() -> Result<(), RootfsError>,
) -> Result<(), RootfsError> {
    let linux = spec.linux();
    // Nothing we mount may propagate back to the host: slave by default.
    let prop = linux
        .rootfs_propagation
        .as_deref()
        .and_then(propagation_flag)
        .unwrap_or(libc::MS_SLAVE | libc::MS_REC);
    sys::mount_path(None, Path::new("/"), None, prop | libc::MS_REC, None).map_err(|source| {
        RootfsError::Mount {
            what: "propagation".into(),
            dest: "/".into(),
            flags: options::flag_names(prop),
            source,
        }
    })?;
    if prop & (libc::MS_SHARED | libc::MS_UNBINDABLE) != 0 {
        pivot::make_parent_private(p.rootfs)?;
    }
    // pivot_root needs the new root to be a mount point.
    sys::mount_path(
        Some(&sys::cstr(p.rootfs).map_err(RootfsError::io("bind rootfs", p.rootfs))?),
        p.rootfs,
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )
    .map_err(RootfsError::io("bind rootfs", p.rootfs))?;
    let root = sys::openat(None, p.rootfs, libc::O_PATH | libc::O_DIRECTORY, 0)
        .map_err(RootfsError::io("open rootfs", p.rootfs))?;
    let ctx = SetupCtx {
        root: root.as_fd(),
        bundle: p.bundle,
        userns: p.userns,
        cgroupns: p.cgroupns,
        cgroup_paths: p.cgroup_paths,
    };
    let mut cgroup_ready = false;
    for m in &spec.mounts {
        if !cgroup_ready && m.kind.as_deref() == Some("cgroup") {
            before_cgroup_mount()?;
            cgroup_ready = true;
        }
        mounts::mount(&ctx, m)?;
    }
    // A /dev bound from the host is used as it is (runc's rule).
    let dev_is_bind = spec.mounts.iter().any(|m| {
        m.destination == Path::new("/dev")
            && (m.kind.as_deref() == Some("bind")
                || m.options.iter().any(|o| o == "bind" || o == "rbind"))
    });
    if dev_is_bind {
        devices::create_all(&ctx, &linux.devices)?;
    } else {
        devices::create_all(&ctx, &linux.devices)?;
        devices::symlinks(&ctx)?;
    }
    Ok(())
}

/// The container's /proc/sys, checked to be procfs (not a directory or mount the image
/// or a config slipped in).
fn procfs_sys(root: BorrowedFd<'_>) -> Result<std::os::fd::OwnedFd, RootfsError> {
    let p = Path::new("/proc/sys");
    let fd = sys::openat2(
        root,
        Path::new("proc/sys"),
        libc::O_PATH | libc::O_DIRECTORY,
        0,
        sys::RESOLVE_IN_ROOT | sys::RESOLVE_NO_SYMLINKS,
    )
    .map_err(RootfsError::io("open", p))?;
    match sys::fs_type(fd.as_fd()) {
        Ok(sys::PROC_SUPER_MAGIC) => Ok(fd),
        _ => Err(RootfsError::Invalid(
            "/proc/sys in the container is not procfs: sysctls need a proc mount".into(),
        )),
    }
}

/// Everything after pivot_root: "/" is the container's root now.
pub fn finalize(spec: &Spec) -> Result<(), RootfsError> {
    let linux = spec.linux();
    let root = sys::openat(None, Path::new("/"), libc::O_PATH | libc::O_DIRECTORY, 0)
        .map_err(RootfsError::io("open", Path::new("/")))?;
    if let Some(p) = linux
        .rootfs_propagation
        .as_deref()
        .and_then(propagation_flag)
    {
        // Propagation is per mount: the new root gets its own after pivot_root (runc).
        sys::mount_path(None, Path::new("/"), None, p, None).map_err(|source| {
            RootfsError::Mount {
                what: "propagation".into(),
                dest: "/".into(),
                flags: options::flag_names(p),
                source,
            }
        })?;
    }
    let proc_sys = if linux.sysctl.is_empty() {
        None
    } else {
        Some(procfs_sys(root.as_fd())?)
    };
    for (key, value) in &linux.sysctl {
        let path = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
        let rel = PathBuf::from(key.replace('.', "/"));
        let dir = proc_sys
            .as_ref()
            .map(AsFd::as_fd)
            .ok_or_else(|| RootfsError::Invalid("no /proc/sys".into()))?;
        // Beneath /proc/sys, no symlinks, and no mount crossed: a bind mount over a
        // sysctl file cannot redirect the write.
        let fd = sys::openat2(
            dir,
            &rel,
            libc::O_WRONLY | libc::O_TRUNC,
            0,
            sys::RESOLVE_BENEATH
                | sys::RESOLVE_NO_XDEV
                | sys::RESOLVE_NO_SYMLINKS
                | sys::RESOLVE_NO_MAGICLINKS,
        )
        .map_err(RootfsError::io("open sysctl", &path))?;
        sys::write_all(fd.as_fd(), value.as_bytes())
            .map_err(RootfsError::io("write sysctl", &path))?;
    }
    for p in &linux.masked_paths {
        masked::mask(root.as_fd(), Path::new(p))?;
    }
    for p in &linux.readonly_paths {
        masked::readonly(root.as_fd(), Path::new(p))?;
    }
    if spec.root.as_ref().is_some_and(|r| r.readonly) {
        mounts::remount_fd(
            root.as_fd(),
            Path::new("/"),
            libc::MS_BIND | libc::MS_RDONLY,
        )?;
    }
    Ok(())
}
