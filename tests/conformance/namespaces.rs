//! Namespace cases checked from inside: new namespaces, namespaces joined by path
//! (held by an `unshare` process of the case's own), user namespace id mappings and
//! time namespace offsets.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::json;

use crate::bundle::{checker_bundle, drop_mount, only, run_checker, set_namespace};
use crate::harness::{ensure, fail, host, CaseResult, Rt, Stop};
use crate::inside::check;
use crate::Case;

pub fn cases() -> Vec<Case> {
    vec![
        Case::new("linux_ns_nopath", linux_ns_nopath),
        Case::new("linux_ns_path", linux_ns_path).needs(needs_unshare),
        Case::new("linux_uid_mappings", linux_uid_mappings).needs(needs_userns),
        Case::new("linux_time_offsets", linux_time_offsets).needs(needs_timens),
    ]
}

fn needs_userns() -> Option<String> {
    let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap_or_default();
    (max.trim().parse::<u64>().unwrap_or(0) == 0).then(|| "user namespaces are disabled".into())
}

fn needs_timens() -> Option<String> {
    (!Path::new("/proc/self/ns/time").exists())
        .then(|| "the kernel has no time namespace (5.6+)".into())
}

fn needs_unshare() -> Option<String> {
    (!Path::new("/usr/bin/unshare").exists())
        .then(|| "no /usr/bin/unshare (util-linux) to hold namespaces".into())
}

fn linux_ns_nopath(rt: &Rt) -> CaseResult {
    check(rt, "linux_ns_nopath", &["namespaces"], |c| {
        for ty in ["pid", "network", "ipc", "uts", "mount", "cgroup"] {
            set_namespace(c, ty, None);
        }
    })
}

/// A process holding new namespaces for a case to join; killed (by its pid) on drop.
struct Holder {
    unshare: Child,
    /// unshare's child once found: pid 1 of its pid namespace, so only SIGKILL ends it.
    inner: Option<u32>,
}

impl Holder {
    /// `unshare ARGS --fork --kill-child -- sleep 300`: --kill-child makes the
    /// kernel kill the sleeper when unshare dies, however the harness ends.
    fn spawn(args: &[&str]) -> Result<Self, Stop> {
        let unshare = Command::new("/usr/bin/unshare")
            .args(args)
            .args(["--fork", "--kill-child", "--", "/bin/sleep", "300"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Stop::Fail(format!("spawn unshare: {e}")))?;
        Ok(Holder {
            unshare,
            inner: None,
        })
    }

    /// The pid whose namespaces are the new ones: with --fork, unshare's child (found
    /// by its parent pid in /proc/*/stat; this kernel has no /proc/PID/task/*/children).
    fn ns_pid(&mut self) -> Result<u32, Stop> {
        let parent = self.unshare.id();
        for _ in 0..500 {
            let found = std::fs::read_dir("/proc")
                .into_iter()
                .flatten()
                .flatten()
                .find_map(|e| {
                    let pid: u32 = e.file_name().to_str()?.parse().ok()?;
                    let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
                    // pid (comm) state ppid …: comm may hold spaces, so split after ')'.
                    let ppid: u32 = stat
                        .rsplit_once(')')?
                        .1
                        .split_whitespace()
                        .nth(1)?
                        .parse()
                        .ok()?;
                    (ppid == parent).then_some(pid)
                });
            if let Some(pid) = found {
                self.inner = Some(pid);
                return Ok(pid);
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        fail("unshare --fork never started its child")
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        if let Some(pid) = self.inner.and_then(|p| libc::pid_t::try_from(p).ok()) {
            // SAFETY: kill(2) takes plain integers. The pid is unshare's unreaped child
            // (unshare is alive until killed below), so it cannot have been reused.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
    }
}

fn inode(path: &str) -> Result<u64, Stop> {
    std::fs::metadata(path)
        .map(|m| m.ino())
        .map_err(|e| Stop::Fail(format!("stat {path}: {e}")))
}

/// runtime-tools `linux_ns_path`: join namespaces some other process holds, by path.
fn linux_ns_path(rt: &Rt) -> CaseResult {
    let mut holder = Holder::spawn(&["--net", "--ipc", "--uts", "--pid", "--cgroup"])?;
    let pid = holder.ns_pid()?;
    // Wait until the child is in its namespaces (it execs sleep after unsharing).
    let mut inodes = serde_json::Map::new();
    let mut paths = Vec::new();
    for (ty, name) in [
        ("network", "net"),
        ("ipc", "ipc"),
        ("uts", "uts"),
        ("pid", "pid"),
        ("cgroup", "cgroup"),
    ] {
        let p = format!("/proc/{pid}/ns/{name}");
        inodes.insert(ty.to_owned(), json!(inode(&p)?));
        paths.push((ty, p));
    }
    let host_net = inode("/proc/self/ns/net")?;
    ensure(inodes["network"] != json!(host_net), || {
        "the holder did not get its own network namespace".into()
    })?;
    let b = checker_bundle(
        "linux_ns_path",
        |c| {
            for (ty, p) in &paths {
                set_namespace(c, ty, Some(p));
            }
        },
        json!({"checks": ["namespaces"], "namespace_inodes": inodes}),
    )?;
    let r = run_checker(rt, &b, "linux_ns_path");
    drop(holder);
    r
}

/// runtime-tools `linux_uid_mappings` (and gid): a user namespace mapping container
/// root to an unprivileged host range. The rootfs is chowned to that range, as an
/// engine would, so that container root owns its files.
fn linux_uid_mappings(rt: &Rt) -> CaseResult {
    let b = checker_bundle(
        "linux_uid_mappings",
        |c| {
            set_namespace(c, "user", None);
            // A cgroup v1 tree cannot be mounted from a user namespace.
            drop_mount(c, "/sys/fs/cgroup");
            c["linux"]["uidMappings"] =
                json!([{"containerID": 0, "hostID": 200_000, "size": 65536}]);
            c["linux"]["gidMappings"] =
                json!([{"containerID": 0, "hostID": 300_000, "size": 65536}]);
        },
        only(&[
            "idmaps",
            "user",
            "namespaces",
            "mounts",
            "default_devices",
            "root",
        ]),
    )?;
    host(
        "chown",
        &[
            "-R",
            "--no-dereference",
            "200000:300000",
            &b.rootfs().to_string_lossy(),
        ],
    )?;
    // The bundle dir itself must stay traversable by the mapped root.
    run_checker(rt, &b, "linux_uid_mappings")
}

/// Time namespace offsets (runtime-spec 1.2 `linux.timeOffsets`, runtime-tools
/// `linux_time_namespace`): runc learned these in 1.2, so 1.1.5 fails this case.
fn linux_time_offsets(rt: &Rt) -> CaseResult {
    check(rt, "linux_time_offsets", &["timens", "namespaces"], |c| {
        set_namespace(c, "time", None);
        c["linux"]["timeOffsets"] = json!({
            "monotonic": {"secs": 86400, "nanosecs": 0},
            "boottime": {"secs": 3600, "nanosecs": 500},
        });
    })
}
