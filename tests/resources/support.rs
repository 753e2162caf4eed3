//! The container under test (`Ctr`) and the helpers every resource test uses: runtime
//! calls bounded in time with their output in files (a container inherits the stdio of
//! `create` and `run --detach`, so a pipe would not see EOF while it lives), reading
//! the container's cgroup files, and cleanup that runs even while a test unwinds.
//!
//! Adapted from tests/runtime/ (exec.rs, leftovers.rs, support.rs), with a cgroup
//! parent of its own (`/hoist-resources`) so that the two test binaries, which nextest
//! runs side by side, never remove each other's parent directory mid-create.

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{self, Bundle, Runtime};

pub const CGROUP_PARENT: &str = "hoist-resources";
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

pub use crate::common::run::*;

/// Whether the runtime under test is runc (the reference), for the few checks that
/// read a runtime's private files.
pub fn is_runc() -> bool {
    common::runtime_bin()
        .file_name()
        .is_some_and(|n| n.to_string_lossy().contains("runc"))
}

/// A flock on this test executable, held while a test may have cgroups under
/// `CGROUP_PARENT`. Containers hold it shared; the cgroup v2 tests hold it exclusively,
/// so that no other test of this file has a container while a controller moves
/// between v1 and v2. Whoever can get it exclusively on drop is the last one and
/// removes the parent (rmdir fails with EBUSY while it still has children).
pub struct CgroupParentLock {
    file: Option<File>,
}

impl CgroupParentLock {
    fn open() -> Option<File> {
        std::env::current_exe().and_then(File::open).ok()
    }

    /// No lock, for a container whose test holds the lock exclusively already.
    pub fn none() -> Self {
        CgroupParentLock { file: None }
    }

    pub fn shared() -> Self {
        let file = Self::open().filter(|f| {
            // SAFETY: flock on an fd this File owns and keeps open.
            unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH) == 0 }
        });
        CgroupParentLock { file }
    }

    /// The lock held exclusively, waiting at most `limit` for the other tests of this
    /// file to let go of their containers; None if they did not.
    pub fn exclusive(limit: Duration) -> Option<Self> {
        let f = Self::open()?;
        poll(limit, || {
            // SAFETY: flock on an fd this File owns and keeps open.
            (unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0)
                .then_some(())
        })?;
        Some(CgroupParentLock { file: Some(f) })
    }
}

impl Drop for CgroupParentLock {
    fn drop(&mut self) {
        let Some(f) = &self.file else { return };
        // SAFETY: flock on an fd this File owns and keeps open.
        let last = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 };
        if last {
            for h in hierarchies() {
                let _ = fs::remove_dir(h.join(CGROUP_PARENT));
            }
        }
    }
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A container id no other test (nextest runs each in its own process) can have.
pub fn unique_id(name: &str) -> String {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("res-{name}-{}-{n}", std::process::id())
}

/// One container under test: a unique id, cgroupsPath `/hoist-resources/<id>`, its
/// own bundle and `--root`. Drop deletes it (`delete --force`), then kills whatever
/// still sits in its cgroups and removes them.
pub struct Ctr {
    pub id: String,
    pub rt: Runtime,
    pub bundle: Bundle,
    /// stdout of `create` and `run` (and so of the container), the pid file.
    pub io: tempfile::TempDir,
    _cgroup_lock: CgroupParentLock,
}

impl Ctr {
    pub fn new(name: &str, args: &[&str]) -> Self {
        Self::with_lock(name, args, CgroupParentLock::shared())
    }

    pub fn with_lock(name: &str, args: &[&str], lock: CgroupParentLock) -> Self {
        let id = unique_id(name);
        let mut bundle = Bundle::new(name, args);
        bundle.config["linux"]["cgroupsPath"] = json!(format!("/{CGROUP_PARENT}/{id}"));
        bundle.write();
        Ctr {
            id,
            rt: Runtime::new(),
            bundle,
            io: common::scratch("io"),
            _cgroup_lock: lock,
        }
    }

    /// The hierarchy-relative cgroup path.
    pub fn cgroup(&self) -> String {
        format!("/{CGROUP_PARENT}/{}", self.id)
    }

    /// The container's directory in the v1 hierarchy of `controller`.
    pub fn cg_dir(&self, controller: &str) -> PathBuf {
        Path::new(CGROUP_ROOT)
            .join(controller)
            .join(CGROUP_PARENT)
            .join(&self.id)
    }

    /// A file of the container's cgroup in hierarchy `controller`, trimmed.
    pub fn cg_read(&self, controller: &str, file: &str) -> String {
        let p = self.cg_dir(controller).join(file);
        fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
            .trim()
            .to_string()
    }

    pub fn config(&mut self) -> &mut Value {
        &mut self.bundle.config
    }

    pub fn write(&self) {
        self.bundle.write();
    }

    pub fn bundle_str(&self) -> &str {
        self.bundle.path().to_str().expect("utf-8 bundle path")
    }

    pub fn pid_file(&self) -> PathBuf {
        self.io.path().join("pid")
    }

    pub fn stdout_path(&self) -> PathBuf {
        self.io.path().join("stdout")
    }

    /// Everything the container wrote to its stdout so far.
    pub fn container_stdout(&self) -> String {
        fs::read_to_string(self.stdout_path()).unwrap_or_default()
    }

    /// Waits until the container's stdout contains `needle`.
    pub fn wait_stdout(&self, needle: &str) -> String {
        poll(SETTLE, || {
            let s = self.container_stdout();
            s.contains(needle).then_some(s)
        })
        .unwrap_or_else(|| {
            panic!(
                "container stdout never showed {needle:?}; it has:\n{}",
                self.container_stdout()
            )
        })
    }

    /// Runs the runtime with `args`.
    pub fn rt(&self, args: &[&str]) -> Out {
        exec(rt_cmd(&self.rt, args), None)
    }

    /// `create --bundle B --pid-file P ID`, its (and the container's) stdout into
    /// `stdout_path()`.
    pub fn create_ok(&self) {
        let pid_file = self.pid_file();
        let args = [
            "create",
            "--bundle",
            self.bundle_str(),
            "--pid-file",
            pid_file.to_str().expect("utf-8 path"),
            &self.id,
        ];
        let stdout = output_file(&self.stdout_path());
        expect_ok(&exec(rt_cmd(&self.rt, &args), Some(stdout)));
    }

    pub fn start_ok(&self) {
        expect_ok(&self.rt(&["start", &self.id]));
    }

    /// `create` then `start`.
    pub fn launch(&self) {
        self.create_ok();
        self.start_ok();
    }

    /// `run --bundle B ID` in the foreground: the container's exit status.
    pub fn run(&self) -> Out {
        let args = ["run", "--bundle", self.bundle_str(), &self.id];
        let stdout = output_file(&self.stdout_path());
        exec(rt_cmd(&self.rt, &args), Some(stdout))
    }

    pub fn state(&self) -> Value {
        let out = self.rt(&["state", &self.id]);
        expect_ok(&out);
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state is not JSON ({e}):\n{out}"))
    }

    pub fn status(&self) -> String {
        self.state()["status"].as_str().unwrap_or("").to_string()
    }

    pub fn pid(&self) -> i64 {
        let st = self.state();
        st["pid"]
            .as_i64()
            .unwrap_or_else(|| panic!("state has no pid: {st}"))
    }

    /// Polls `state` until the status is `want`.
    pub fn wait_status(&self, want: &str) {
        let got = poll(SETTLE, || {
            let s = self.status();
            (s == want).then_some(s)
        });
        assert!(
            got.is_some(),
            "container {} never became {want:?}; last state: {}",
            self.id,
            self.state()
        );
    }

    /// `delete --force` succeeded and nothing is left: no state, no cgroup dir.
    pub fn delete_force_ok(&self) {
        expect_ok(&self.rt(&["delete", "--force", &self.id]));
        self.assert_gone();
    }

    /// `state` says the container does not exist and its cgroups are gone.
    pub fn assert_gone(&self) {
        let out = self.rt(&["state", &self.id]);
        assert!(!out.success(), "container still exists:\n{out}");
        let gone = poll(SETTLE, || {
            cgroup_dirs(&self.cgroup()).is_empty().then_some(())
        });
        assert!(
            gone.is_some(),
            "cgroup dirs left behind: {:?}",
            cgroup_dirs(&self.cgroup())
        );
    }

    /// Adds capabilities to every set of the container's process.
    pub fn add_caps(&mut self, caps: &[&str]) {
        for set in ["bounding", "effective", "permitted"] {
            let v = self.config()["process"]["capabilities"][set]
                .as_array_mut()
                .expect("capability set");
            v.extend(caps.iter().map(|c| json!(c)));
        }
        self.write();
    }
}

impl Drop for Ctr {
    fn drop(&mut self) {
        let _ = self
            .rt
            .command()
            .args(["delete", "--force", &self.id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        remove_cgroup(&self.cgroup());
        // Then `rt` deletes whatever else its root holds, `bundle` and `io` go, and
        // the cgroup parent goes with the last test holding the lock.
    }
}

/// A file as a string, failing the test if it cannot be read.
pub fn read(path: impl AsRef<Path>) -> String {
    common::read(path)
}
