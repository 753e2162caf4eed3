//! The container under test (`Ctr`): a unique id, a unique cgroupsPath
//! `/hoist-test/<id>`, its own bundle and `--root`, and the checks that the runtime
//! left nothing behind: no state dir, no cgroup dir in any hierarchy, no process.
//!
//! Cleanup happens in `Drop`, so a failing test tidies up as well: `delete --force`,
//! then SIGKILL to whatever still sits in the container's cgroups and `rmdir` of them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{json, Value};

use crate::common::{self, Bundle, Runtime};
pub use crate::exec::{
    exec, expect_error, expect_ok, lines, output_file, poll, rt_cmd, rt_run, Out, SETTLE,
};
pub use crate::leftovers::{alive, assert_pid_gone, cgroup_dirs, processes_mentioning};
use crate::leftovers::{remove_cgroup, CgroupParentLock, CGROUP_PARENT};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A container id no other test (nextest runs each in its own process) can have.
pub fn unique_id(name: &str) -> String {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{name}-{}-{n}", std::process::id())
}

/// One container under test.
pub struct Ctr {
    pub id: String,
    pub rt: Runtime,
    pub bundle: Bundle,
    /// stdout/stderr of `create` and `run --detach` (and so of the container), pid file.
    pub io: tempfile::TempDir,
    _cgroup_lock: CgroupParentLock,
}

impl Ctr {
    /// A bundle running `args`, id `<name>-<pid>-<n>`, cgroupsPath `/hoist-test/<id>`.
    pub fn new(name: &str, args: &[&str]) -> Self {
        let lock = CgroupParentLock::take();
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

    pub fn cgroup(&self) -> String {
        format!("/{CGROUP_PARENT}/{}", self.id)
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
        rt_run(&self.rt, args)
    }

    /// `create --bundle B --pid-file P <extra> ID`, its (and the container's) stdout
    /// into `stdout_path()`.
    pub fn create_cmd(&self, extra: &[&str]) -> Command {
        let pid_file = self.pid_file();
        let mut args = vec!["create", "--bundle", self.bundle_str()];
        args.extend(["--pid-file", pid_file.to_str().expect("utf-8 path")]);
        args.extend(extra);
        args.push(&self.id);
        rt_cmd(&self.rt, &args)
    }

    pub fn create_with(&self, extra: &[&str]) -> Out {
        let stdout = output_file(&self.stdout_path());
        exec(self.create_cmd(extra), Some(stdout))
    }

    pub fn create(&self) -> Out {
        self.create_with(&[])
    }

    pub fn create_ok(&self) {
        expect_ok(&self.create());
    }

    pub fn start_ok(&self) {
        expect_ok(&self.rt(&["start", &self.id]));
    }

    /// `run --bundle B <extra> ID` in the foreground.
    pub fn run_with(&self, extra: &[&str]) -> Out {
        let mut args = vec!["run", "--bundle", self.bundle_str()];
        args.extend(extra);
        args.push(&self.id);
        let stdout = output_file(&self.stdout_path());
        exec(rt_cmd(&self.rt, &args), Some(stdout))
    }

    /// `run` in the foreground, which must succeed; returns the container's stdout.
    pub fn run_ok(&self) -> String {
        let out = self.run_with(&[]);
        expect_ok(&out);
        out.stdout
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

    /// The container is gone: `state` says so (the phrase engines look for; the exact
    /// wording is `lifecycle::state_of_unknown_id`'s business), no state dir, no
    /// cgroup, no process carrying its id.
    pub fn assert_gone(&self) {
        let out = self.rt(&["state", &self.id]);
        expect_error(&out, "does not exist");
        self.assert_nothing_left();
    }

    /// Nothing under `--root` for this id, no cgroup dir, no process carrying the id.
    pub fn assert_nothing_left(&self) {
        let state_dir = self.rt.root.path().join(&self.id);
        assert!(
            !state_dir.exists(),
            "state dir {} left behind",
            state_dir.display()
        );
        let dirs = poll(SETTLE, || {
            let d = cgroup_dirs(&self.cgroup());
            d.is_empty().then_some(())
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

    /// After a failed create: the whole `--root` is empty too.
    pub fn assert_failed_create_left_nothing(&self) {
        self.assert_nothing_left();
        let left: Vec<_> = fs::read_dir(self.rt.root.path())
            .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "left under --root: {left:?}");
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

/// `common::read`: a whole file as a string, failing the test if it cannot.
pub fn read(path: impl AsRef<Path>) -> String {
    common::read(path)
}
