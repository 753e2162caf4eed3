//! The container under test (`Ctr`) and the helpers every resource test uses: runtime
//! calls bounded in time with their output in files (a container inherits the stdio of
//! `create` and `run --detach`, so a pipe would not see EOF while it lives), reading
//! the container's cgroup files, and cleanup that runs even while a test unwinds.
//!
//! Adapted from tests/runtime/ (exec.rs, leftovers.rs, support.rs), with a cgroup
//! parent of its own (`/hoist-resources`) so that the two test binaries, which nextest
//! runs side by side, never remove each other's parent directory mid-create.

use std::fmt;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{self, Bundle, Runtime};

/// A runtime command that takes longer than this is stuck.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a container may take to reach a status, or a process to vanish.
pub const SETTLE: Duration = Duration::from_secs(10);
/// Every container of this file lives under this cgroup, one leaf per container.
pub const CGROUP_PARENT: &str = "hoist-resources";
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// What a runtime command did.
pub struct Out {
    pub what: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` exited {:?}\n--- stdout\n{}--- stderr\n{}---",
            self.what, self.code, self.stdout, self.stderr
        )
    }
}

fn read_from_start(mut f: &File) -> String {
    let mut s = String::new();
    let _ = f.seek(SeekFrom::Start(0));
    let _ = f.read_to_string(&mut s);
    s
}

/// Runs `cmd` to its end within `CMD_TIMEOUT` (killing it and failing otherwise), its
/// stdout to `stdout` (a fresh anonymous file if None) and stderr to a fresh file.
pub fn exec(mut cmd: Command, stdout: Option<File>) -> Out {
    let what = format!("{cmd:?}");
    let out = match stdout {
        Some(f) => f,
        None => tempfile::tempfile().expect("stdout file"),
    };
    let err = tempfile::tempfile().expect("stderr file");
    cmd.stdout(out.try_clone().expect("dup stdout"));
    cmd.stderr(err.try_clone().expect("dup stderr"));
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let deadline = Instant::now() + CMD_TIMEOUT;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for runtime") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what} still running after {CMD_TIMEOUT:?}; stderr so far:\n{}",
                read_from_start(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Out {
        what,
        code: status.code(),
        stdout: read_from_start(&out),
        stderr: read_from_start(&err),
    }
}

/// A runtime command with the private `--root` and stdin from /dev/null.
pub fn rt_cmd(rt: &Runtime, args: &[&str]) -> Command {
    let mut c = rt.command();
    c.args(args);
    c
}

/// A file for a command's output that `exec` can read back: read-write, truncated.
pub fn output_file(path: &Path) -> File {
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap_or_else(|e| panic!("create {}: {e}", path.display()))
}

pub fn expect_ok(out: &Out) {
    assert!(out.success(), "expected success:\n{out}");
}

/// The failure every refused command must give: exit status 1 and one line on
/// stderr, containing `needle` (case-insensitively).
pub fn expect_error(out: &Out, needle: &str) {
    assert_eq!(out.code, Some(1), "expected exit status 1:\n{out}");
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "expected one error line on stderr:\n{out}");
    // runc's text log quotes msg, escaping the quotes inside it.
    let line = lines[0].replace("\\\"", "\"").to_lowercase();
    assert!(
        line.contains(&needle.to_lowercase()),
        "error line should mention {needle:?}:\n{out}"
    );
}

/// Polls `f` until it returns Some, for at most `limit`.
pub fn poll<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Container output with pty line endings and surrounding blanks normalised.
pub fn lines(s: &str) -> Vec<String> {
    s.replace('\r', "")
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Whether the runtime under test is runc (the reference), for the few checks that
/// read a runtime's private files.
pub fn is_runc() -> bool {
    common::runtime_bin()
        .file_name()
        .is_some_and(|n| n.to_string_lossy().contains("runc"))
}

/// The cgroup hierarchies mounted under /sys/fs/cgroup, each once (symlinks skipped).
pub fn hierarchies() -> Vec<PathBuf> {
    let Ok(rd) = fs::read_dir(CGROUP_ROOT) else {
        return Vec::new();
    };
    rd.flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect()
}

/// Hierarchies in which the cgroup `rel` (absolute, like `/hoist-resources/x`) exists.
pub fn cgroup_dirs(rel: &str) -> Vec<PathBuf> {
    hierarchies()
        .into_iter()
        .map(|h| h.join(rel.trim_start_matches('/')))
        .filter(|p| p.is_dir())
        .collect()
}

/// Whether `pid` is still a live (not zombie) process.
pub fn alive(pid: i64) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

/// Kills what is left in cgroup `rel` and removes its directories; never panics.
pub fn remove_cgroup(rel: &str) {
    for dir in cgroup_dirs(rel) {
        let _ = poll(Duration::from_secs(3), || {
            // A frozen process takes no SIGKILL: thaw first (v1 and v2).
            let _ = fs::write(dir.join("freezer.state"), "THAWED");
            let _ = fs::write(dir.join("cgroup.freeze"), "0");
            if let Ok(procs) = fs::read_to_string(dir.join("cgroup.procs")) {
                for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    // SAFETY: kill takes plain integers; the pid came from this
                    // container's own cgroup, so nothing else is signalled.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            fs::remove_dir(&dir).ok()
        });
    }
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
