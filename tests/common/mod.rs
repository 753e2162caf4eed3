//! Shared helpers for the root integration tests: where the binaries and the bundled
//! busybox image are, private bundles and state roots that clean up after themselves.
#![allow(dead_code)]

pub mod run;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

/// The workspace root (this package sits at the top of the workspace).
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The directory cargo put this test binary's siblings in (`target/<profile>`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test-binary>
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps")
        .to_path_buf()
}

/// The hoist-runtime binary under test: `$HOIST_RUNTIME`, else the one cargo built.
pub fn runtime_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("HOIST_RUNTIME") {
        return PathBuf::from(p);
    }
    let p = profile_dir().join("hoist-runtime");
    assert!(
        p.exists(),
        "{} not built: run `cargo build --workspace`",
        p.display()
    );
    p
}

/// The `hoist` binary under test.
pub fn hoist_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("HOIST_BIN") {
        return PathBuf::from(p);
    }
    profile_dir().join("hoist")
}

/// The static checker (`make runtimetest`): `$HOIST_RUNTIMETEST`, else
/// target/release/runtimetest.
pub fn runtimetest_bin() -> PathBuf {
    let p = std::env::var_os("HOIST_RUNTIMETEST")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/release/runtimetest"));
    assert!(
        p.exists(),
        "{} not built: run `make runtimetest`",
        p.display()
    );
    p
}

/// The busybox image built by `make image`.
pub fn busybox_dir() -> PathBuf {
    let p = std::env::var_os("HOIST_BUSYBOX")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/images/busybox"));
    assert!(
        p.join("rootfs/bin/busybox").exists(),
        "busybox image missing at {}: run `make image`",
        p.display()
    );
    p
}

/// A scratch directory under /tmp, removed on drop (after unmounting anything left).
pub fn scratch(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("hoist-test-{prefix}-"))
        .tempdir_in("/tmp")
        .expect("create scratch dir")
}

/// A runc-like default config for a container running `args` from the busybox rootfs.
pub fn base_spec(args: &[&str]) -> Value {
    json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "hoist",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

/// A bundle of its own: a private copy of the busybox rootfs and a config.json.
pub struct Bundle {
    pub dir: tempfile::TempDir,
    pub config: Value,
}

impl Bundle {
    pub fn new(prefix: &str, args: &[&str]) -> Self {
        let dir = scratch(prefix);
        let src = busybox_dir().join("rootfs");
        let st = Command::new("cp")
            .arg("-a")
            .arg(&src)
            .arg(dir.path().join("rootfs"))
            .status()
            .expect("run cp");
        assert!(st.success(), "copy rootfs");
        let b = Bundle {
            dir,
            config: base_spec(args),
        };
        b.write();
        b
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// Writes `self.config` to config.json; call after changing it.
    pub fn write(&self) {
        let text = serde_json::to_vec_pretty(&self.config).expect("serialize config");
        std::fs::write(self.dir.path().join("config.json"), text).expect("write config.json");
    }
}

/// A runtime binary with a private `--root`; deletes every container it knows on drop.
pub struct Runtime {
    pub bin: PathBuf,
    pub root: tempfile::TempDir,
}

impl Runtime {
    pub fn new() -> Self {
        Self::with_bin(runtime_bin())
    }

    pub fn with_bin(bin: PathBuf) -> Self {
        Runtime {
            bin,
            root: scratch("root"),
        }
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(self.root.path());
        c.stdin(Stdio::null());
        c
    }

    /// Runs the runtime with `args`, capturing stdout and stderr.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("spawn runtime")
    }

    /// Like `run`, and fails the test unless the command succeeded.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{} {:?} failed: {}\n{}",
            self.bin.display(),
            args,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The container's `state` JSON.
    pub fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).expect("state is JSON")
    }
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let Ok(rd) = std::fs::read_dir(self.root.path()) else {
            return;
        };
        for e in rd.flatten() {
            if e.path().is_dir() {
                let id = e.file_name();
                let _ = self
                    .command()
                    .arg("delete")
                    .arg("--force")
                    .arg(&id)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

/// Reads a file the way a test asserts on it: the whole of it, as a string.
pub fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path.as_ref())
        .unwrap_or_else(|e| panic!("read {}: {e}", path.as_ref().display()))
}
