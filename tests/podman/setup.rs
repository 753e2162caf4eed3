//! What a test's podman needs before its first call: the tools on PATH, the runtime under
//! test, the busybox layout to pull from, and the private configuration files
//! (containers.conf, storage.conf, policy.json) plus the argv-recording runtime wrapper.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::common;

/// The file name podman must see for the runtime. podman decides by the *file name* of
/// `--runtime` whether the runtime takes `--log-format=json --log` and
/// `--cgroup-manager disabled` (`runtime_supports_json`, `runtime_supports_nocgroup`),
/// so the wrapper carries the name users give hoist-runtime, whatever it wraps.
pub const RUNTIME_NAME: &str = "hoist-runtime";

/// Fails the test with a clear message when a tool it drives is missing: a missing
/// podman is a broken test machine, never a pass.
pub fn require_tools() {
    let hint = "install it with `apt-get install -y --no-install-recommends podman` \
                (the Makefile's deps does)";
    for (tool, hint) in [
        ("podman", hint),
        ("conmon", hint),
        ("script", "it comes with util-linux"),
    ] {
        assert!(in_path(tool), "`{tool}` not found in PATH: {hint}");
    }
}

fn in_path(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|d| {
        fs::metadata(d.join(tool)).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// `$HOIST_PODMAN_RUNTIME` if set (e.g. /usr/sbin/runc), else hoist-runtime.
pub fn runtime_under_test() -> PathBuf {
    let p = std::env::var_os("HOIST_PODMAN_RUNTIME")
        .map(PathBuf::from)
        .unwrap_or_else(common::runtime_bin);
    // conmon runs the wrapper from the bundle dir: a relative path would not resolve.
    let p = if p.is_absolute() {
        p
    } else {
        std::env::current_dir().expect("current dir").join(p)
    };
    assert!(
        p.is_file(),
        "runtime under test {} does not exist",
        p.display()
    );
    p
}

/// The image reference podman pulls the busybox image from: the recipe's OCI layout
/// (`oci:` reads it in place; `oci-archive:` would unpack the tar under /var/tmp first).
pub fn busybox_source() -> String {
    let layout = common::busybox_dir().join("oci");
    assert!(
        layout.join("index.json").is_file(),
        "no OCI layout at {}: run `make image`",
        layout.display()
    );
    format!("oci:{}:latest", layout.display())
}

/// The private directories of one podman, all under its scratch dir.
pub struct Dirs {
    pub root: PathBuf,
    pub runroot: PathBuf,
    pub tmp: PathBuf,
    /// The runtime's `--root`, which the wrapper adds (podman passes none).
    pub runtime_state: PathBuf,
    pub wrapper: PathBuf,
    pub argv_log: PathBuf,
    pub containers_conf: PathBuf,
    pub storage_conf: PathBuf,
    pub policy: PathBuf,
    pub events_log: PathBuf,
}

impl Dirs {
    pub fn new(scratch: &Path) -> Self {
        let d = Dirs {
            root: scratch.join("root"),
            runroot: scratch.join("runroot"),
            tmp: scratch.join("tmp"),
            runtime_state: scratch.join("runtime-state"),
            wrapper: scratch.join("bin").join(RUNTIME_NAME),
            argv_log: scratch.join("runtime-argv.log"),
            containers_conf: scratch.join("containers.conf"),
            storage_conf: scratch.join("storage.conf"),
            policy: scratch.join("policy.json"),
            events_log: scratch.join("events.log"),
        };
        for dir in [&d.tmp, &d.runtime_state, &scratch.join("bin"), &d.net()] {
            fs::create_dir_all(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        }
        d
    }

    /// Where podman keeps network configs (and its cni.lock): not /etc/cni/net.d.
    pub fn net(&self) -> PathBuf {
        self.tmp.with_file_name("net")
    }

    /// Writes the configuration files and the wrapper around `runtime`.
    pub fn write_all(&self, runtime: &Path) {
        write(&self.containers_conf, &self.containers_conf());
        write(&self.storage_conf, &self.storage_conf());
        write(
            &self.policy,
            r#"{"default": [{"type": "insecureAcceptAnything"}]}"#,
        );
        write_wrapper(&self.wrapper, &self.argv_log, runtime, &self.runtime_state);
    }

    /// The containers.conf a user needs for a runtime podman does not know by name, plus
    /// what keeps this podman off host paths (locks, tmp, events, networks).
    fn containers_conf(&self) -> String {
        format!(
            "[containers]\n\
             # Rootful podman asks for nofile 1048576 and nproc 4194304; root here lacks\n\
             # CAP_SYS_RESOURCE, so ask for what the caller already has.\n\
             default_ulimits = [\"nofile={nofile}:{nofile}\", \"nproc={nproc}:{nproc}\"]\n\
             \n\
             [network]\n\
             network_config_dir = \"{net}\"\n\
             \n\
             [engine]\n\
             cgroup_manager = \"cgroupfs\"\n\
             events_logger = \"file\"\n\
             events_logfile_path = \"{events}\"\n\
             tmp_dir = \"{tmp}\"\n\
             image_copy_tmp_dir = \"{tmp}\"\n\
             # Not the host-wide /dev/shm/libpod_lock segment: lock files in tmp_dir.\n\
             lock_type = \"file\"\n\
             runtime_supports_json = [\"{name}\"]\n\
             runtime_supports_nocgroup = [\"{name}\"]\n",
            nofile = rlimit_hard(libc::RLIMIT_NOFILE, 20_000),
            nproc = nproc_limit(),
            net = self.net().display(),
            events = self.events_log.display(),
            tmp = self.tmp.display(),
            name = RUNTIME_NAME,
        )
    }

    /// The flags say the same; the file shields the test from a host storage.conf
    /// (additional image stores, mount programs).
    fn storage_conf(&self) -> String {
        format!(
            "[storage]\ndriver = \"overlay\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
            self.root.display(),
            self.runroot.display()
        )
    }
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// The hard limit of `resource` for this process, `fallback` if it cannot be read.
fn rlimit_hard(resource: libc::__rlimit_resource_t, fallback: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `struct rlimit` into `lim`, which lives across the call.
    let rc = unsafe { libc::getrlimit(resource, &mut lim) };
    if rc == 0 {
        lim.rlim_max
    } else {
        fallback
    }
}

/// podman lowers its own RLIMIT_NPROC to 32768 at start (seen with strace here) before
/// it spawns conmon and the runtime, so a container may ask for at most that, or for the
/// caller's hard limit if that is lower.
fn nproc_limit() -> u64 {
    rlimit_hard(libc::RLIMIT_NPROC, 32_768).min(32_768)
}

/// A shell script that appends its arguments to `log` and execs `runtime` with a private
/// `--root` in front of them: podman never passes `--root`, and `--runtime-flag root=…`
/// would not reach the `delete` that `podman container cleanup` issues, so the state
/// would land in the runtime's host-wide default root.
fn write_wrapper(path: &Path, log: &Path, runtime: &Path, state: &Path) {
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$*\" >> {}\nexec {} --root {} \"$@\"\n",
        sh_quote(&log.display().to_string()),
        sh_quote(&runtime.display().to_string()),
        sh_quote(&state.display().to_string())
    );
    write(path, &script);
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod runtime wrapper");
}

/// `s` as one single-quoted shell word.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
