//! The namespaces a pod's apps share (network, IPC, UTS), made by stage0 and kept as
//! nsfs bind mounts on `ns/net`, `ns/ipc`, `ns/uts` in the pod directory, so that each
//! app joins them by path and any OCI runtime can be the stage1.
//!
//! They are made on a short-lived thread: `unshare` of these three kinds changes only
//! the calling thread, so hoist itself stays where it was, and the thread's namespaces
//! outlive it through the bind mounts (`/proc/thread-self/ns/*`).

use std::path::{Path, PathBuf};

use super::{io_err, PodError};
use crate::sys;

/// The namespace files of a pod.
pub struct Namespaces {
    pub net: Option<PathBuf>,
    pub ipc: PathBuf,
    pub uts: PathBuf,
}

impl Namespaces {
    pub fn paths(pod_dir: &Path, with_net: bool) -> Namespaces {
        let ns = pod_dir.join("ns");
        Namespaces {
            net: with_net.then(|| ns.join("net")),
            ipc: ns.join("ipc"),
            uts: ns.join("uts"),
        }
    }
}

/// The namespaces being made on their thread; [`Pending::finish`] waits for them. A
/// `Pending` dropped unfinished still waits, so that nothing is bound after teardown.
pub struct Pending {
    paths: Namespaces,
    thread: Option<std::thread::JoinHandle<Result<(), PodError>>>,
    pod_dir: PathBuf,
}

impl Pending {
    /// Where the namespace files will be (for configs written meanwhile).
    pub fn paths(&self) -> &Namespaces {
        &self.paths
    }

    /// Waits for the thread; on failure the files bound so far are unmounted.
    pub fn finish(mut self) -> Result<Namespaces, PodError> {
        let made = self.join();
        if let Err(e) = made {
            remove(&self.pod_dir);
            return Err(e);
        }
        Ok(Namespaces {
            net: self.paths.net.clone(),
            ipc: self.paths.ipc.clone(),
            uts: self.paths.uts.clone(),
        })
    }

    fn join(&mut self) -> Result<(), PodError> {
        match self.thread.take() {
            Some(t) => t.join().unwrap_or_else(|_| {
                Err(PodError::Io {
                    what: "make the pod's namespaces".into(),
                    source: std::io::Error::other("the namespace thread panicked"),
                })
            }),
            None => Ok(()),
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let _ = self.join();
    }
}

/// Starts making the pod's namespaces on a thread of their own (the rest of the pod's
/// setup goes on meanwhile): a new IPC and UTS namespace (hostname set) and, unless
/// `with_net` is false (`--net host`), a network namespace with loopback up.
pub fn start(pod_dir: &Path, hostname: &str, with_net: bool) -> Result<Pending, PodError> {
    let ns = Namespaces::paths(pod_dir, with_net);
    let dir = pod_dir.join("ns");
    std::fs::create_dir_all(&dir).map_err(io_err(format!("create `{}`", dir.display())))?;
    let mut targets: Vec<(&str, PathBuf)> = vec![("ipc", ns.ipc.clone()), ("uts", ns.uts.clone())];
    if let Some(n) = &ns.net {
        targets.push(("net", n.clone()));
    }
    for (_, t) in &targets {
        std::fs::write(t, b"").map_err(io_err(format!("create `{}`", t.display())))?;
    }
    let hostname = hostname.to_owned();
    let thread = std::thread::spawn(move || -> Result<(), PodError> {
        let mut flags = libc::CLONE_NEWIPC | libc::CLONE_NEWUTS;
        if with_net {
            flags |= libc::CLONE_NEWNET;
        }
        sys::unshare(flags).map_err(io_err("unshare the pod's namespaces"))?;
        sys::sethostname(&hostname).map_err(io_err(format!("set hostname `{hostname}`")))?;
        if with_net {
            sys::loopback_up().map_err(io_err("bring up loopback in the pod"))?;
        }
        for (kind, target) in &targets {
            let src = PathBuf::from(format!("/proc/thread-self/ns/{kind}"));
            sys::mount(Some(src.as_os_str()), target, None, libc::MS_BIND, None).map_err(
                io_err(format!(
                    "bind the {kind} namespace on `{}`",
                    target.display()
                )),
            )?;
        }
        Ok(())
    });
    Ok(Pending {
        paths: ns,
        thread: Some(thread),
        pod_dir: pod_dir.to_path_buf(),
    })
}

/// Unmounts the namespace files (the namespaces die with their last user). Best effort:
/// returns what it could not undo.
pub fn remove(pod_dir: &Path) -> Vec<String> {
    let mut errors = Vec::new();
    for kind in ["net", "ipc", "uts"] {
        let p = pod_dir.join("ns").join(kind);
        if let Err(e) = sys::umount_detach(&p) {
            errors.push(format!("unmount `{}`: {e}", p.display()));
        }
    }
    errors
}
