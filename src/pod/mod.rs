//! Pods: several apps sharing network, IPC and UTS namespaces, run by a stage1 OCI
//! runtime and watched by a small supervisor, with no daemon anywhere.
//!
//! A pod is a directory under `<dir>/pods/<state>/<uuid>/`, rkt-style; its state is the
//! directory it is in, and whether its supervisor lives is whether the pod's `lock` is
//! held (the supervisor holds it exclusively for the pod's life; a killed supervisor
//! drops it with its last fd). So `list`, `status` and `gc` read directories and try
//! locks, and never race a supervisor.
//!
//! ```text
//! pods/embryo/<uuid>/           being prepared (gc removes leftovers)
//! pods/prepared/<uuid>/         prepared, not started (`hoist prepare`)
//! pods/run/<uuid>/              started; running while the directory is locked (flock,
//!                               by the supervisor), else dead
//! pods/exited-garbage/<uuid>/   ended and torn down; `rm` or `gc` removes it
//!   pod.json                    the manifest (`cat-manifest`)
//!   <app>.upper, <app>.work     the overlay's upper and work dirs of each app (with
//!                               --no-overlay: `<app>.rootfs`, the copy)
//!   net/<network>.json          CNI results, for DEL
//!   volumes/<name>/             named volumes
//!   exited                      when the pod ended, and each app's exit status
//!   stage1.log                  what the stage1 logged, if it logged anything
//!   log                         stdout and stderr of a detached pod's apps
//!   error                       why a pod failed to start, if it did
//!
//! /run/hoist/                   a tmpfs (hoist mounts one where /run is not)
//!   <uuid>/                     the pod's stage1 --root
//!   <uuid>.log                  the stage1's --log while the pod runs
//!   <uuid>.rt/                  while the pod runs, a tmpfs of its run-time files (one
//!                               unmount takes it and all mounted in it):
//!     supervisor                the supervisor's pid
//!     ns/{net,ipc,uts}          the shared namespaces (nsfs bind mounts)
//!     etc/{hosts,resolv.conf,hostname}
//!     shm/                      the pod's /dev/shm (a tmpfs)
//!     apps/<name>/{config.json,rootfs,points,pid,exit}   the stage1's bundle (rootfs:
//!                               the overlay; points: a layer of mount points) and the
//!                               app's exit status once it ended
//!     started                   once the apps run
//! ```
//!
//! Modules: `args` (the run command line), `manifest` (pod.json, app resolution),
//! `prepare`, `spec` (config.json), `user`, `rootfs` (overlayfs), `ns`, `stage1` (the
//! runtime's command line), `supervise`, `teardown`, `status`.

pub mod args;
pub mod manifest;
pub mod ns;
pub mod prepare;
pub mod rootfs;
pub mod spec;
pub mod stage1;
pub mod status;
pub mod supervise;
pub mod teardown;
pub mod user;
pub mod values;

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use crate::sys;
pub use manifest::PodManifest;

#[derive(Debug, thiserror::Error)]
pub enum PodError {
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("no pod `{0}` (see hoist list)")]
    NotFound(String),
    #[error("`{given}` names {count} pods: give more of the UUID")]
    Ambiguous { given: String, count: usize },
    #[error("a pod named `{0}` exists already (hoist rm it first)")]
    NameTaken(String),
    #[error("bad name `{0}`: use letters, digits, `-`, `_` and `.`")]
    BadName(String),
    #[error("image `{image}` has no entrypoint or cmd: give --exec")]
    NoCommand { image: String },
    #[error("image `{image}`: {reason}")]
    BadImageConfig { image: String, reason: String },
    #[error("user `{user}`: {reason}")]
    UnknownUser { user: String, reason: String },
    #[error("seccomp profile `{path}`: {reason}")]
    Seccomp { path: PathBuf, reason: String },
    #[error("volume source `{0}` does not exist")]
    VolumeSource(PathBuf),
    #[error("stage1 `{0}` not found (hoist, runc, crun or a path to an OCI runtime)")]
    Stage1NotFound(String),
    #[error("stage1 {step} of app `{app}` failed: {message}")]
    Stage1 {
        step: &'static str,
        app: String,
        message: String,
    },
    #[error("pod {uuid} is {state}: {wanted}")]
    WrongState {
        uuid: String,
        state: String,
        wanted: String,
    },
    #[error("pod {0} is locked by another hoist (still starting or stopping?)")]
    Busy(String),
    #[error(transparent)]
    Net(#[from] crate::net::NetError),
    #[error(transparent)]
    Store(#[from] crate::image::store::StoreError),
}

/// Turns an `io::Error` into a [`PodError::Io`] naming what was being done.
pub fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> PodError {
    let what = what.into();
    move |source| PodError::Io { what, source }
}

/// Where pods' stage1 state roots live.
pub const STAGE1_ROOT: &str = "/run/hoist";

/// Where a pod is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Embryo,
    Prepared,
    Run,
    Exited,
}

impl State {
    pub const ALL: [State; 4] = [State::Embryo, State::Prepared, State::Run, State::Exited];

    pub fn dir_name(self) -> &'static str {
        match self {
            State::Embryo => "embryo",
            State::Prepared => "prepared",
            State::Run => "run",
            State::Exited => "exited-garbage",
        }
    }
}

/// The pods under `<dir>/pods`.
pub struct Pods {
    root: PathBuf,
}

/// One pod directory.
#[derive(Clone, Debug)]
pub struct Pod {
    pub uuid: String,
    pub state: State,
    pub dir: PathBuf,
}

impl Pods {
    /// Opens (making them if need be) the pod directories under `dir`.
    pub fn open(dir: &Path) -> Result<Pods, PodError> {
        let root = dir.join("pods");
        for s in State::ALL {
            let d = root.join(s.dir_name());
            std::fs::create_dir_all(&d).map_err(io_err(format!("create `{}`", d.display())))?;
        }
        Ok(Pods { root })
    }

    pub fn state_dir(&self, state: State) -> PathBuf {
        self.root.join(state.dir_name())
    }

    /// Every pod, oldest state first.
    pub fn all(&self) -> Result<Vec<Pod>, PodError> {
        let mut out = Vec::new();
        for state in State::ALL {
            let d = self.state_dir(state);
            let entries =
                std::fs::read_dir(&d).map_err(io_err(format!("read `{}`", d.display())))?;
            for e in entries {
                let e = e.map_err(io_err(format!("read `{}`", d.display())))?;
                let Ok(uuid) = e.file_name().into_string() else {
                    continue;
                };
                if valid_uuid(&uuid) {
                    out.push(Pod {
                        uuid,
                        state,
                        dir: e.path(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// The pod `given` names: a UUID, a unique UUID prefix, or a pod name.
    pub fn find(&self, given: &str) -> Result<Pod, PodError> {
        let all = self.all()?;
        if let Some(p) = all.iter().find(|p| p.uuid == given) {
            return Ok(p.clone());
        }
        let named: Vec<&Pod> = all
            .iter()
            .filter(|p| p.state != State::Embryo)
            .filter(|p| p.manifest().is_ok_and(|m| m.name.as_deref() == Some(given)))
            .collect();
        if let [one] = named.as_slice() {
            return Ok((*one).clone());
        }
        let prefixed: Vec<&Pod> = all.iter().filter(|p| p.uuid.starts_with(given)).collect();
        match (named.len(), prefixed.as_slice()) {
            (0, [one]) if given.len() >= 4 => Ok((*one).clone()),
            (0, []) | (0, [_]) => Err(PodError::NotFound(given.into())),
            (n, p) => Err(PodError::Ambiguous {
                given: given.into(),
                count: n.max(p.len()),
            }),
        }
    }

    /// Marks a torn-down pod as ended and moves it to `exited-garbage`. `exited` holds
    /// when (its first line; its mtime is gc's grace period) and the exit status of
    /// each app that recorded one (`NAME STATUS` lines): one file on disk for the
    /// pod's end. Until the rename the pod is a dead one in `run/`, which gc retires.
    pub fn retire(&self, pod: &mut Pod, exits: &[(String, i32)]) -> Result<(), PodError> {
        let mut text = format!("{}\n", crate::time::now_rfc3339());
        for (app, status) in exits {
            text.push_str(&format!("{app} {status}\n"));
        }
        let path = pod.dir.join("exited");
        std::fs::write(&path, text).map_err(io_err(format!("write `{}`", path.display())))?;
        self.move_to(pod, State::Exited)
    }

    /// Moves `pod` into `to` (a rename: mounts inside move with it).
    pub fn move_to(&self, pod: &mut Pod, to: State) -> Result<(), PodError> {
        let dest = self.state_dir(to).join(&pod.uuid);
        std::fs::rename(&pod.dir, &dest).map_err(io_err(format!(
            "move pod {} to {}",
            pod.uuid,
            to.dir_name()
        )))?;
        pod.dir = dest;
        pod.state = to;
        Ok(())
    }
}

impl Pod {
    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join("pod.json")
    }

    pub fn manifest(&self) -> Result<PodManifest, PodError> {
        let path = self.manifest_path();
        let bytes = std::fs::read(&path).map_err(io_err(format!("read `{}`", path.display())))?;
        serde_json::from_slice(&bytes).map_err(|e| PodError::Io {
            what: format!("parse `{}`", path.display()),
            source: io::Error::new(io::ErrorKind::InvalidData, e),
        })
    }

    /// One of the app's own entries in the pod directory, `<app>.<what>`: `upper` and
    /// `work` (the overlay's), `rootfs` (the copy of --no-overlay), `empty` (the lower
    /// dir of an image without layers). Flat, so that a pod makes no directory on disk
    /// it does not need (app names never hold `/`, and `pod.json` or `net` never end in
    /// one of these).
    pub fn app_path(&self, app: &str, what: &str) -> PathBuf {
        self.dir.join(format!("{app}.{what}"))
    }

    /// The pod's run-time files while it runs: a tmpfs of its own mounted on
    /// `/run/hoist/<uuid>.rt` (see the layout above), so that neither its files nor its
    /// mount point are made on the store's disk: on these VMs' ext4 (no journal) a file
    /// or directory made there took 20 us to 700 us, depending on what was deleted and
    /// written back before it.
    pub fn rt_dir(&self) -> PathBuf {
        Path::new(STAGE1_ROOT).join(format!("{}.rt", self.uuid))
    }

    /// The marker a supervisor leaves once its pod's apps run (it matters only while
    /// the supervisor lives).
    pub fn started_path(&self) -> PathBuf {
        self.rt_dir().join("started")
    }

    /// The supervisor's pid (read only while it lives).
    pub fn supervisor_path(&self) -> PathBuf {
        self.rt_dir().join("supervisor")
    }

    /// The app's OCI bundle (config.json and rootfs), in the run-time files.
    pub fn bundle_dir(&self, app: &str) -> PathBuf {
        self.rt_dir().join("apps").join(app)
    }

    /// The container ID of `app` in the stage1: the app's name, as every pod gives
    /// its stage1 a state root of its own.
    pub fn container_id(&self, app: &str) -> String {
        app.to_owned()
    }

    /// The app's cgroup below the hierarchies' roots: `hoist/<uuid>-<app>`.
    pub fn cgroup_name(&self, app: &str) -> String {
        format!("{}-{app}", self.uuid)
    }

    /// The stage1's `--root` for this pod: `/run/hoist/<uuid>`. Not in the pod
    /// directory: unix socket paths the stage1 makes there (runc's sd_notify socket)
    /// must fit in 108 bytes.
    pub fn stage1_root(&self) -> PathBuf {
        Path::new(STAGE1_ROOT).join(&self.uuid)
    }

    /// The stage1's `--log` while the pod runs, `/run/hoist/<uuid>.log` (beside its
    /// root, where no container ID can clash with it); teardown keeps it as the pod's
    /// `stage1.log` if anything was logged.
    pub fn stage1_log(&self) -> PathBuf {
        Path::new(STAGE1_ROOT).join(format!("{}.log", self.uuid))
    }

    /// Takes the pod's lock, a flock of its directory (it holds across the renames
    /// from state to state): exclusively, waiting or not. `Ok(None)` when `wait` is
    /// false and someone holds it.
    pub fn lock(&self, wait: bool) -> Result<Option<File>, PodError> {
        let path = &self.dir;
        let f = File::open(path).map_err(io_err(format!("open `{}`", path.display())))?;
        let got = sys::flock(f.as_fd(), true, wait)
            .map_err(io_err(format!("lock `{}`", path.display())))?;
        Ok(got.then_some(f))
    }

    /// Whether a supervisor holds the pod's lock.
    pub fn locked(&self) -> bool {
        !matches!(self.lock(false), Ok(Some(_)))
    }

    /// Where the supervisor records `app`'s exit status while the pod runs (in the
    /// run-time tmpfs; `retire` keeps them all in `exited`).
    pub fn exit_path(&self, app: &str) -> PathBuf {
        self.bundle_dir(app).join("exit")
    }

    /// The exit status `app` recorded (`None`: not recorded): from `exited` once the
    /// pod has ended, else from the run-time files.
    pub fn exit_status(&self, app: &str) -> Option<i32> {
        let ended = std::fs::read_to_string(self.dir.join("exited")).ok();
        let recorded = ended.as_deref().and_then(|text| {
            text.lines().skip(1).find_map(|l| {
                let (name, status) = l.split_once(' ')?;
                (name == app).then(|| status.trim().parse().ok())?
            })
        });
        let read = |p: PathBuf| {
            std::fs::read_to_string(p)
                .ok()
                .and_then(|s| s.trim().parse().ok())
        };
        // Pods that ended before `exited` held the statuses kept them in `apps/`.
        recorded
            .or_else(|| read(self.exit_path(app)))
            .or_else(|| read(self.dir.join("apps").join(app).join("exit")))
    }

    /// The exit statuses recorded so far, in manifest order (for `retire`).
    pub fn recorded_exits(&self, manifest: &PodManifest) -> Vec<(String, i32)> {
        manifest
            .apps
            .iter()
            .filter_map(|a| Some((a.name.clone(), self.exit_status(&a.name)?)))
            .collect()
    }

    /// The supervisor's pid, if recorded.
    pub fn supervisor_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.supervisor_path())
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }
}

/// A random (version 4) UUID.
pub fn new_uuid() -> Result<String, PodError> {
    let mut b = [0u8; 16];
    sys::getrandom(&mut b).map_err(io_err("read random bytes for a pod UUID"))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// Whether `s` looks like one of our UUIDs (directory entries that don't are ignored).
pub fn valid_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Writes `bytes` to `path` through a temp file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PodError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(io_err(format!("write `{}`", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(io_err(format!("write `{}`", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids() {
        let u = new_uuid().unwrap();
        assert!(valid_uuid(&u), "{u}");
        assert_eq!(&u[14..15], "4");
        assert_ne!(u, new_uuid().unwrap());
        assert!(!valid_uuid("x") && !valid_uuid(&u.replace('-', "x")));
    }

    #[test]
    fn exit_statuses_from_run_time_files_then_exited() {
        let d = tempfile::tempdir().unwrap();
        let pods = Pods::open(d.path()).unwrap();
        let uuid = new_uuid().unwrap();
        let mut pod = Pod {
            uuid: uuid.clone(),
            state: State::Run,
            dir: pods.state_dir(State::Run).join(&uuid),
        };
        let old = pod.dir.join("apps/old");
        std::fs::create_dir_all(pod.bundle_dir("web")).unwrap();
        std::fs::create_dir_all(&old).unwrap();
        std::fs::write(pod.exit_path("web"), "3\n").unwrap();
        std::fs::write(old.join("exit"), "9\n").unwrap();
        let rt = pod.rt_dir();
        let checked = std::panic::catch_unwind(move || {
            assert_eq!(pod.exit_status("web"), Some(3));
            assert_eq!(pod.exit_status("db"), None);
            assert_eq!(pod.exit_status("old"), Some(9), "a pod of an older hoist");
            pods.retire(&mut pod, &[("web".into(), 3), ("db".into(), 137)])
                .unwrap();
            assert_eq!(pod.state, State::Exited);
            std::fs::remove_dir_all(pod.rt_dir()).unwrap();
            assert_eq!(pod.exit_status("web"), Some(3));
            assert_eq!(pod.exit_status("db"), Some(137));
            assert_eq!(pod.exit_status("we"), None);
            let exited = std::fs::read_to_string(pod.dir.join("exited")).unwrap();
            assert_eq!(
                exited.lines().skip(1).collect::<Vec<_>>(),
                ["web 3", "db 137"]
            );
        });
        let _ = std::fs::remove_dir_all(rt);
        checked.unwrap();
    }

    #[test]
    fn find_by_uuid_prefix_and_name() {
        let d = tempfile::tempdir().unwrap();
        let pods = Pods::open(d.path()).unwrap();
        let a = "0a1b2c3d-0000-4000-8000-000000000001";
        let b = "0a1b2c3d-0000-4000-8000-000000000002";
        for (u, n) in [(a, "web"), (b, "db")] {
            let dir = pods.state_dir(State::Prepared).join(u);
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(
                dir.join("pod.json"),
                serde_json::json!({"uuid": u, "name": n, "created": "", "stage1": "/x",
                    "flags": serde_json::to_value(args::PodFlags::default()).unwrap(), "apps": []})
                .to_string(),
            )
            .unwrap();
        }
        assert_eq!(pods.find(a).unwrap().uuid, a);
        assert_eq!(pods.find("db").unwrap().uuid, b);
        assert!(matches!(pods.find("0a1b"), Err(PodError::Ambiguous { .. })));
        assert!(matches!(pods.find("ffff"), Err(PodError::NotFound(_))));
        assert_eq!(pods.all().unwrap().len(), 2);
    }
}
