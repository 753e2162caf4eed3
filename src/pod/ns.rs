//! The namespaces a pod's apps share (network, IPC, UTS), made by stage0 and kept as
//! nsfs bind mounts on `ns/net`, `ns/ipc`, `ns/uts` in the pod's run-time tmpfs
//! (`rt/`), so that each app joins them by path and any OCI runtime can be the stage1.
//!
//! They are made on a short-lived thread: `unshare` of these three kinds changes only
//! the calling thread, so hoist itself stays where it was, and the thread's namespaces
//! outlive it through the bind mounts (`/proc/thread-self/ns/*`). A foreground `hoist
//! run` starts that thread first thing ([`Maker::spawn`]): a new thread may wait a
//! millisecond for an idle vCPU to wake here, and the network namespace takes half
//! that again, all of which then passes while the pod is prepared; the thread learns
//! the hostname and where to bind the namespaces once the pod directory exists.

use std::path::{Path, PathBuf};
use std::sync::mpsc;

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

/// Where the namespace thread keeps what it made.
struct Binding {
    hostname: String,
    targets: Vec<(&'static str, PathBuf)>,
}

/// The namespace thread, started before the pod directory exists: it makes the
/// namespaces at once, then waits for [`Maker::bind`] (or gives up when dropped).
pub struct Maker {
    with_net: bool,
    tx: mpsc::Sender<Binding>,
    thread: std::thread::JoinHandle<Result<(), PodError>>,
}

impl Maker {
    /// A new IPC and UTS namespace and, unless `with_net` is false (`--net host`), a
    /// network namespace with loopback up, made on a thread of their own.
    pub fn spawn(with_net: bool) -> Maker {
        let (tx, rx) = mpsc::channel::<Binding>();
        let thread = std::thread::spawn(move || -> Result<(), PodError> {
            let mut flags = libc::CLONE_NEWIPC | libc::CLONE_NEWUTS;
            if with_net {
                flags |= libc::CLONE_NEWNET;
            }
            sys::unshare(flags).map_err(io_err("unshare the pod's namespaces"))?;
            if with_net {
                sys::loopback_up().map_err(io_err("bring up loopback in the pod"))?;
            }
            // No pod after all: the namespaces end with the thread.
            let Ok(b) = rx.recv() else {
                return Ok(());
            };
            let host = &b.hostname;
            sys::sethostname(host).map_err(io_err(format!("set hostname `{host}`")))?;
            for (kind, target) in &b.targets {
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
        Maker {
            with_net,
            tx,
            thread,
        }
    }

    /// Whether this thread makes a network namespace.
    pub fn with_net(&self) -> bool {
        self.with_net
    }

    /// Creates the namespace files in `pod_dir` and has the thread set `hostname` and
    /// bind its namespaces there; [`Pending::finish`] waits for that.
    pub fn bind(self, pod_dir: &Path, hostname: &str) -> Result<Pending, PodError> {
        let ns = Namespaces::paths(pod_dir, self.with_net);
        let dir = pod_dir.join("ns");
        std::fs::create_dir_all(&dir).map_err(io_err(format!("create `{}`", dir.display())))?;
        let mut targets: Vec<(&'static str, PathBuf)> =
            vec![("ipc", ns.ipc.clone()), ("uts", ns.uts.clone())];
        if let Some(n) = &ns.net {
            targets.push(("net", n.clone()));
        }
        for (_, t) in &targets {
            std::fs::write(t, b"").map_err(io_err(format!("create `{}`", t.display())))?;
        }
        // A thread that failed already has its error waiting in `finish`.
        let _ = self.tx.send(Binding {
            hostname: hostname.to_owned(),
            targets,
        });
        Ok(Pending {
            paths: ns,
            thread: Some(self.thread),
            pod_dir: pod_dir.to_path_buf(),
        })
    }
}

/// Starts making the pod's namespaces on a thread of their own (the rest of the pod's
/// setup goes on meanwhile); see [`Maker`].
pub fn start(pod_dir: &Path, hostname: &str, with_net: bool) -> Result<Pending, PodError> {
    Maker::spawn(with_net).bind(pod_dir, hostname)
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
