//! The namespaces a pod's apps share (network, IPC, UTS), made by stage0 and kept as
//! nsfs bind mounts on `ns/net`, `ns/ipc`, `ns/uts` in the pod's run-time tmpfs
//! (`/run/hoist/<uuid>.rt`), so that each app joins them by path and any OCI runtime
//! can be the stage1.
//!
//! `unshare` of these three kinds changes only the calling thread, and the namespaces
//! outlive it through the bind mounts (`/proc/thread-self/ns/*`). They are made on a
//! short-lived thread while the rest of the pod is set up ([`Maker::spawn`]: a
//! foreground `hoist run` starts it first thing; the network namespace alone takes
//! half a millisecond). A new thread may also wait milliseconds for an idle vCPU to
//! wake (seen here: 0 to 3.5 ms), so whoever comes first does the work: the thread
//! claims it when it starts, and the caller claims it when it needs the namespaces
//! ([`Pending::finish`]) and the thread has not started yet; it then makes them on
//! its own thread and goes back into its own namespaces after binding them.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{mpsc, Arc};

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

/// Who makes the namespaces (see the module's doc).
const UNCLAIMED: u8 = 0;
const BY_THREAD: u8 = 1;
const BY_CALLER: u8 = 2;

/// Where the namespaces go once made.
#[derive(Clone)]
struct Binding {
    hostname: String,
    targets: Vec<(&'static str, PathBuf)>,
}

/// The namespace kinds a pod gets, with their CLONE_NEW* flags.
fn kinds(with_net: bool) -> Vec<(&'static str, libc::c_int)> {
    let mut k = vec![("ipc", libc::CLONE_NEWIPC), ("uts", libc::CLONE_NEWUTS)];
    if with_net {
        k.push(("net", libc::CLONE_NEWNET));
    }
    k
}

/// Moves the calling thread into new namespaces (loopback up in the network one).
fn enter_new(with_net: bool) -> Result<(), PodError> {
    let flags = kinds(with_net).iter().fold(0, |all, (_, f)| all | f);
    sys::unshare(flags).map_err(io_err("unshare the pod's namespaces"))?;
    if with_net {
        sys::loopback_up().map_err(io_err("bring up loopback in the pod"))?;
    }
    Ok(())
}

/// Sets the hostname and binds the calling thread's namespaces where `b` says.
fn bind_own(b: &Binding) -> Result<(), PodError> {
    let host = &b.hostname;
    sys::sethostname(host).map_err(io_err(format!("set hostname `{host}`")))?;
    for (kind, target) in &b.targets {
        let src = PathBuf::from(format!("/proc/thread-self/ns/{kind}"));
        sys::mount(Some(src.as_os_str()), target, None, libc::MS_BIND, None).map_err(io_err(
            format!("bind the {kind} namespace on `{}`", target.display()),
        ))?;
    }
    Ok(())
}

/// Makes and binds the namespaces on the calling thread, which then goes back into
/// the namespaces it was in.
fn make_here(with_net: bool, b: &Binding) -> Result<(), PodError> {
    let mut own = Vec::new();
    for (kind, flag) in kinds(with_net) {
        let p = format!("/proc/thread-self/ns/{kind}");
        let f = File::open(&p).map_err(io_err(format!("open `{p}`")))?;
        own.push((f, flag));
    }
    let made = enter_new(with_net).and_then(|()| bind_own(b));
    for (f, flag) in &own {
        if let Err(e) = sys::setns(f.as_fd(), *flag) {
            // Going on would run networking (CNI, the stage1) inside the pod's
            // namespaces; a dead supervisor's pod is what gc cleans up.
            eprintln!("hoist: return to hoist's own namespaces: {e}");
            std::process::abort();
        }
    }
    made
}

/// The namespaces being made; [`Pending::finish`] waits for them (or makes them). A
/// `Pending` dropped unfinished still waits for a thread that started, so that
/// nothing is bound after teardown.
pub struct Pending {
    paths: Namespaces,
    with_net: bool,
    binding: Binding,
    claim: Arc<AtomicU8>,
    thread: Option<std::thread::JoinHandle<Result<(), PodError>>>,
    pod_dir: PathBuf,
}

impl Pending {
    /// Where the namespace files will be (for configs written meanwhile).
    pub fn paths(&self) -> &Namespaces {
        &self.paths
    }

    /// The namespaces, made by the thread or, when it has not started yet, here; on
    /// failure the files bound so far are unmounted.
    pub fn finish(mut self) -> Result<Namespaces, PodError> {
        let made = if self.claim_here() {
            make_here(self.with_net, &self.binding)
        } else {
            self.join()
        };
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

    /// Takes the work from a thread that has not started it: the thread then returns
    /// as soon as it runs, and is left to do so (joining would wait for it to run).
    fn claim_here(&mut self) -> bool {
        let won = self
            .claim
            .compare_exchange(UNCLAIMED, BY_CALLER, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if won {
            self.thread = None;
        }
        won
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
        if !self.claim_here() {
            let _ = self.join();
        }
    }
}

/// The namespace thread, started before the pod directory exists: it makes the
/// namespaces at once (unless the caller already took the work), then waits for
/// [`Maker::bind`] (or gives up when dropped).
pub struct Maker {
    with_net: bool,
    claim: Arc<AtomicU8>,
    tx: mpsc::Sender<Binding>,
    thread: std::thread::JoinHandle<Result<(), PodError>>,
}

impl Maker {
    /// A new IPC and UTS namespace and, unless `with_net` is false (`--net host`), a
    /// network namespace with loopback up, made on a thread of their own.
    pub fn spawn(with_net: bool) -> Maker {
        let (tx, rx) = mpsc::channel::<Binding>();
        let claim = Arc::new(AtomicU8::new(UNCLAIMED));
        let theirs = Arc::clone(&claim);
        let thread = std::thread::spawn(move || -> Result<(), PodError> {
            // A new thread often starts on the caller's CPU, taking it from the caller
            // (seen: for the whole half millisecond the namespaces take): it gives the
            // CPU back at once (the caller then does the work itself), and does it
            // only on a CPU that has nothing else to do. Becoming SCHED_IDLE alone does
            // not reschedule; the yield does.
            let _ = sys::sched_idle();
            sys::sched_yield();
            if theirs
                .compare_exchange(UNCLAIMED, BY_THREAD, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                return Ok(());
            }
            enter_new(with_net)?;
            // No pod after all: the namespaces end with the thread.
            let Ok(b) = rx.recv() else {
                return Ok(());
            };
            bind_own(&b)
        });
        Maker {
            with_net,
            claim,
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
        let binding = Binding {
            hostname: hostname.to_owned(),
            targets,
        };
        // A thread that failed already has its error waiting in `finish`; one that
        // never claimed the work never reads this.
        let _ = self.tx.send(binding.clone());
        Ok(Pending {
            paths: ns,
            with_net: self.with_net,
            binding,
            claim: self.claim,
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;
    use std::time::{Duration, Instant};

    /// The inode of a namespace file (an nsfs bind mount, or /proc's link).
    fn ns_inode(p: &Path) -> u64 {
        std::fs::metadata(p).unwrap().ino()
    }

    fn own(kind: &str) -> u64 {
        ns_inode(Path::new(&format!("/proc/thread-self/ns/{kind}")))
    }

    /// The pod's namespaces are new ones, bound where they should be, with the
    /// hostname set in the UTS one; the caller's own are what they were.
    fn check_made(dir: &Path, host: &str, before: &[(&str, u64)]) {
        for (kind, ino) in before {
            assert_eq!(own(kind), *ino, "the caller's {kind} namespace changed");
            let bound = ns_inode(&dir.join("ns").join(kind));
            assert_ne!(bound, *ino, "the pod's {kind} namespace is the caller's");
        }
        let out = std::process::Command::new("nsenter")
            .arg(format!("--uts={}", dir.join("ns/uts").display()))
            .arg("hostname")
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), host);
        assert!(remove(dir).is_empty());
    }

    fn snapshot() -> Vec<(&'static str, u64)> {
        ["ipc", "uts", "net"].map(|k| (k, own(k))).to_vec()
    }

    #[test]
    fn made_by_the_thread_once_it_claimed_them() {
        let d = tempfile::tempdir().unwrap();
        let before = snapshot();
        let maker = Maker::spawn(true);
        let until = Instant::now() + Duration::from_secs(10);
        while maker.claim.load(Ordering::Acquire) != BY_THREAD {
            assert!(Instant::now() < until, "the thread never started");
            std::thread::sleep(Duration::from_millis(1));
        }
        let pending = maker.bind(d.path(), "pod-by-thread").unwrap();
        pending.finish().unwrap();
        check_made(d.path(), "pod-by-thread", &before);
    }

    #[test]
    fn made_by_the_caller_when_the_thread_has_not_started() {
        let d = tempfile::tempdir().unwrap();
        let before = snapshot();
        // A thread that never claims anything stands for one not yet running.
        let (tx, _rx) = mpsc::channel();
        let maker = Maker {
            with_net: true,
            claim: Arc::new(AtomicU8::new(UNCLAIMED)),
            tx,
            thread: std::thread::spawn(|| Ok(())),
        };
        let claim = Arc::clone(&maker.claim);
        let pending = maker.bind(d.path(), "pod-by-caller").unwrap();
        pending.finish().unwrap();
        assert_eq!(claim.load(Ordering::Acquire), BY_CALLER);
        check_made(d.path(), "pod-by-caller", &before);
    }

    #[test]
    fn a_failure_on_the_callers_path_leaves_it_in_its_namespaces() {
        let d = tempfile::tempdir().unwrap();
        let before = snapshot();
        let b = Binding {
            hostname: "ok".into(),
            // Not a file or directory: the bind fails after the unshare.
            targets: vec![("ipc", d.path().join("missing/ipc"))],
        };
        assert!(make_here(true, &b).is_err());
        for (kind, ino) in &before {
            assert_eq!(own(kind), *ino, "the caller's {kind} namespace changed");
        }
    }
}
