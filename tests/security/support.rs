//! The container under test for tests/seccomp.rs and tests/hardening.rs (`Ctr`): a
//! unique id, a unique cgroupsPath `/hoist-test/<id>`, its own bundle (a copy of the
//! busybox image) and `--root`, removed on drop even when the test panics. Runtime
//! commands run within a time limit with their output in files, not pipes: a
//! container inherits the stdio of `create`, so a pipe would not see end of file
//! while it lives.
#![allow(dead_code)] // shared by tests/seccomp.rs and tests/hardening.rs

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

pub use crate::common::run::{
    cgroup_dirs, exec_with, expect_ok, hierarchies, output_file, poll, processes_mentioning,
    remove_cgroup, Out, SETTLE,
};
use crate::common::{self, Bundle, Runtime};

/// Every test cgroup lives under this, one leaf per container (as in tests/runtime).
const CGROUP_PARENT: &str = "hoist-test";
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Bad input: exit status 1 and an error line on stderr mentioning `needle`.
pub fn expect_error(out: &Out, needle: &str) {
    assert_eq!(out.code, Some(1), "expected exit status 1:\n{out}");
    let text = out.stderr.replace("\\\"", "\"").to_lowercase();
    assert!(
        text.contains(&needle.to_lowercase()),
        "error should mention {needle:?}:\n{out}"
    );
}

pub fn read(path: impl AsRef<Path>) -> String {
    common::read(path)
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A container id no other test (nextest runs each in its own process) can have.
pub fn unique_id(name: &str) -> String {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{name}-{}-{n}", std::process::id())
}

/// The hoist-runtime that cargo built beside this test binary, if any: `spec
/// --seccomp` is hoist's, so it makes the default profile even when `$HOIST_RUNTIME`
/// is runc.
pub fn cargo_hoist_runtime() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let p = exe.parent()?.parent()?.join("hoist-runtime");
    p.exists().then_some(p)
}

/// One container under test.
pub struct Ctr {
    pub id: String,
    /// Shared with the containers made by `sharing` (one `--root` for all of them).
    pub rt: Arc<Runtime>,
    pub bundle: Bundle,
    /// stdout and stderr of `create` and `run` (and so of the container), the pid file.
    pub io: tempfile::TempDir,
    _cgroup_lock: CgroupParentLock,
}

impl Ctr {
    /// A bundle running `args` with the runtime under test.
    pub fn new(name: &str, args: &[&str]) -> Self {
        Self::with_runtime(name, args, Runtime::new())
    }

    /// The same with a given runtime (a private copy of the binary, say).
    pub fn with_runtime(name: &str, args: &[&str], rt: Runtime) -> Self {
        Self::with_shared_runtime(name, args, Arc::new(rt))
    }

    /// Another container under the same runtime and `--root` as `other`.
    pub fn sharing(name: &str, args: &[&str], other: &Ctr) -> Self {
        Self::with_shared_runtime(name, args, other.rt.clone())
    }

    fn with_shared_runtime(name: &str, args: &[&str], rt: Arc<Runtime>) -> Self {
        let lock = CgroupParentLock::take();
        let id = unique_id(name);
        let mut bundle = Bundle::new(name, args);
        bundle.config["linux"]["cgroupsPath"] = json!(format!("/{CGROUP_PARENT}/{id}"));
        bundle.write();
        Ctr {
            id,
            rt,
            bundle,
            io: common::scratch("io"),
            _cgroup_lock: lock,
        }
    }

    pub fn cgroup(&self) -> String {
        format!("/{CGROUP_PARENT}/{}", self.id)
    }

    pub fn config(&mut self) -> &mut Value {
        &mut self.bundle.config
    }

    /// Writes the config; call after changing it.
    pub fn write(&self) {
        self.bundle.write();
    }

    pub fn rootfs(&self) -> PathBuf {
        self.bundle.rootfs()
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

    pub fn stderr_path(&self) -> PathBuf {
        self.io.path().join("stderr")
    }

    /// Everything the container wrote to its stdout so far.
    pub fn container_stdout(&self) -> String {
        fs::read_to_string(self.stdout_path()).unwrap_or_default()
    }

    /// Everything the container (and `create`) wrote to stderr so far.
    pub fn container_stderr(&self) -> String {
        fs::read_to_string(self.stderr_path()).unwrap_or_default()
    }

    /// A runtime command with the private `--root` and stdin from /dev/null.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.rt.command();
        c.args(args);
        c
    }

    /// Runs the runtime with `args`.
    pub fn rt(&self, args: &[&str]) -> Out {
        exec_with(self.cmd(args), None, None)
    }

    /// `create --bundle B --pid-file P ID`, its (and the container's) stdout and
    /// stderr into `stdout_path()` and `stderr_path()`.
    pub fn create(&self) -> Out {
        let pid_file = self.pid_file();
        let args = [
            "create",
            "--bundle",
            self.bundle_str(),
            "--pid-file",
            pid_file.to_str().expect("utf-8 path"),
            &self.id,
        ];
        exec_with(
            self.cmd(&args),
            Some(output_file(&self.stdout_path())),
            Some(output_file(&self.stderr_path())),
        )
    }

    pub fn create_ok(&self) {
        expect_ok(&self.create());
    }

    pub fn start_ok(&self) {
        expect_ok(&self.rt(&["start", &self.id]));
    }

    /// `run --bundle B ID` in the foreground.
    pub fn run(&self) -> Out {
        let args = ["run", "--bundle", self.bundle_str(), &self.id];
        exec_with(
            self.cmd(&args),
            Some(output_file(&self.stdout_path())),
            Some(output_file(&self.stderr_path())),
        )
    }

    /// `run`, which must succeed; returns the container's stdout.
    pub fn run_ok(&self) -> String {
        let out = self.run();
        expect_ok(&out);
        out.stdout
    }

    /// `exec ID ARGS...` in the foreground.
    pub fn exec(&self, args: &[&str]) -> Out {
        let mut a = vec!["exec", self.id.as_str()];
        a.extend(args);
        self.rt(&a)
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
        let got = poll(SETTLE, || (self.status() == want).then_some(()));
        assert!(
            got.is_some(),
            "container {} never became {want:?}; last state: {}\nstderr: {}",
            self.id,
            self.state(),
            self.container_stderr()
        );
    }

    /// Waits until the container's stdout contains `needle`.
    pub fn wait_stdout(&self, needle: &str) -> String {
        poll(SETTLE, || {
            let s = self.container_stdout();
            s.contains(needle).then_some(s)
        })
        .unwrap_or_else(|| {
            panic!(
                "container stdout never showed {needle:?}; it has:\n{}\nstderr:\n{}",
                self.container_stdout(),
                self.container_stderr()
            )
        })
    }

    /// After a failed create: nothing under `--root` at all, no cgroup directory, no
    /// process carrying the id (DESIGN.md rule 5).
    pub fn assert_failed_create_left_nothing(&self) {
        let left: Vec<_> = fs::read_dir(self.rt.root.path())
            .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "left under --root: {left:?}");
        let dirs = poll(SETTLE, || {
            cgroup_dirs(&self.cgroup()).is_empty().then_some(())
        });
        assert!(
            dirs.is_some(),
            "cgroup dirs left behind: {:?}",
            cgroup_dirs(&self.cgroup())
        );
        let procs = poll(SETTLE, || {
            processes_mentioning(&self.id).is_empty().then_some(())
        });
        assert!(
            procs.is_some(),
            "processes left behind: {:?}",
            processes_mentioning(&self.id)
        );
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
    }
}

/// A shared flock on this test binary, held while a test may have cgroups under
/// `CGROUP_PARENT`; whoever gets it exclusively at the end is the last test of this
/// binary alive and removes the parent (rmdir fails while another binary's tests
/// still have children there, which is what we want).
struct CgroupParentLock {
    file: Option<File>,
}

impl CgroupParentLock {
    fn take() -> Self {
        let file = std::env::current_exe()
            .and_then(File::open)
            .ok()
            .filter(|f| {
                // SAFETY: flock on an fd this File owns and keeps open.
                unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH) == 0 }
            });
        CgroupParentLock { file }
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
