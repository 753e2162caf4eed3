//! Device nodes and the /dev symlinks, made under the rootfs through fds. In a user
//! namespace, where mknod is refused, the host's node is bind-mounted instead (runc).

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use super::path::{self, Make};
use super::{RootfsError, SetupCtx};
use crate::spec::Device;
use crate::sys;

/// The devices every container gets (runtime-spec "Default Devices").
pub fn defaults() -> Vec<Device> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .iter()
    .map(|&(n, major, minor)| Device {
        kind: "c".into(),
        path: PathBuf::from("/dev").join(n),
        major,
        minor,
        file_mode: Some(0o666),
        uid: Some(0),
        gid: Some(0),
    })
    .collect()
}

fn type_bits(kind: &str) -> u32 {
    match kind {
        "b" => libc::S_IFBLK,
        "p" => libc::S_IFIFO,
        _ => libc::S_IFCHR,
    }
}

/// Makes the default devices (unless the config lists the same path) and the config's.
pub fn create_all(ctx: &SetupCtx<'_>, configured: &[Device]) -> Result<(), RootfsError> {
    let mut all: Vec<Device> = defaults()
        .into_iter()
        .filter(|d| !configured.iter().any(|c| c.path == d.path))
        .collect();
    all.extend(configured.iter().cloned());
    for d in &all {
        create(ctx, d)?;
    }
    Ok(())
}

fn create(ctx: &SetupCtx<'_>, d: &Device) -> Result<(), RootfsError> {
    let err = |step: &'static str| {
        let p = d.path.clone();
        move |source| RootfsError::Device {
            step,
            path: p,
            source,
        }
    };
    if ctx.userns {
        let target = path::open_or_make(ctx.root, &d.path, Make::File)
            .map_err(err("create bind target for"))?;
        let src = sys::cstr(&d.path).map_err(err("bind"))?;
        return sys::mount(
            Some(&src),
            &sys::fd_path(target.as_fd()),
            None,
            libc::MS_BIND,
            None,
        )
        .map_err(err("bind"));
    }
    let (dir, name) = path::parent_and_name(ctx.root, &d.path).map_err(err("open parent of"))?;
    let mode = d.file_mode.unwrap_or(0o666) & 0o7777;
    let major = u32::try_from(d.major)
        .map_err(|_| RootfsError::Invalid(format!("device `{}`: bad major", d.path.display())))?;
    let minor = u32::try_from(d.minor)
        .map_err(|_| RootfsError::Invalid(format!("device `{}`: bad minor", d.path.display())))?;
    let dev = libc::makedev(major, minor);
    match sys::mknodat(dir.as_fd(), &name, mode | type_bits(&d.kind), dev) {
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
            // Whatever the image put there (a symlink to procfs or the host, a regular
            // file) is replaced, unless it already is the node asked for (the /dev
            // symlink CVEs: a node is never reached through a path the image controls).
            let old = sys::openat2(dir.as_fd(), &name, libc::O_PATH | libc::O_NOFOLLOW, 0, 0)
                .map_err(err("open"))?;
            let st = sys::fstat(old.as_fd()).map_err(err("stat"))?;
            if st.st_mode & libc::S_IFMT == type_bits(&d.kind) && st.st_rdev == dev {
                return Ok(());
            }
            if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                return Err(RootfsError::Invalid(format!(
                    "device path `{}` is a directory in the rootfs",
                    d.path.display()
                )));
            }
            sys::unlinkat(dir.as_fd(), &name).map_err(err("remove what the image has at"))?;
            sys::mknodat(dir.as_fd(), &name, mode | type_bits(&d.kind), dev)
                .map_err(err("mknod"))?;
        }
        other => other.map_err(err("mknod"))?,
    }
    let node = sys::openat2(dir.as_fd(), &name, libc::O_PATH | libc::O_NOFOLLOW, 0, 0)
        .map_err(err("open"))?;
    sys::fchown(node.as_fd(), d.uid.unwrap_or(0), d.gid.unwrap_or(0)).map_err(err("chown"))
}

/// /dev/fd, stdin, stdout, stderr (and core where the host has /proc/kcore), and
/// /dev/ptmx pointing at the container's own devpts instance.
pub fn symlinks(ctx: &SetupCtx<'_>) -> Result<(), RootfsError> {
    let mut links = vec![
        ("/proc/self/fd", "/dev/fd"),
        ("/proc/self/fd/0", "/dev/stdin"),
        ("/proc/self/fd/1", "/dev/stdout"),
        ("/proc/self/fd/2", "/dev/stderr"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "/dev/core"));
    }
    for (target, link) in links {
        let (dir, name) = path::parent_and_name(ctx.root, Path::new(link)).map_err(|source| {
            RootfsError::Device {
                step: "open parent of",
                path: link.into(),
                source,
            }
        })?;
        match sys::symlinkat(Path::new(target), dir.as_fd(), &name) {
            Err(e) if e.raw_os_error() != Some(libc::EEXIST) => {
                return Err(RootfsError::Device {
                    step: "symlink",
                    path: link.into(),
                    source: e,
                })
            }
            _ => {}
        }
    }
    let (dir, name) =
        path::parent_and_name(ctx.root, Path::new("/dev/ptmx")).map_err(|source| {
            RootfsError::Device {
                step: "open parent of",
                path: "/dev/ptmx".into(),
                source,
            }
        })?;
    let _ = sys::unlinkat(dir.as_fd(), &name);
    sys::symlinkat(Path::new("pts/ptmx"), dir.as_fd(), &name).map_err(|source| {
        RootfsError::Device {
            step: "symlink",
            path: "/dev/ptmx".into(),
            source,
        }
    })
}
