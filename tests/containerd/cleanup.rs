//! Tearing a test's containerd down, pass or fail: its tasks and containers, the daemon,
//! any shim left running, the runtime's state under /run/containerd/runc/<ns>, the
//! namespace's cgroups, leftover mounts under the scratch dir and the fifo dirs of its
//! containers. Nothing here may panic: it runs in `Drop`, often while a test unwinds.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::daemon::{Containerd, CLEANUP_TIMEOUT, RUNC_ROOT};

/// Where ctr makes each process's stdio fifos, one random dir per process.
const FIFO_ROOT: &str = "/run/containerd/fifo";
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// Where runc.v2 shims listen, one socket per task, whatever containerd's `state` is.
const SHIM_SOCKETS: &str = "/run/containerd/s/";

impl Drop for Containerd {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.remove_tasks_and_containers();
            self.stop_daemon();
        }
        kill_shims(&self.socket());
        self.delete_runtime_state();
        remove_cgroups(&self.ns);
        unmount_under(self.dir.path());
        let _ = fs::remove_dir_all(Path::new(RUNC_ROOT).join(&self.ns));
        remove_fifo_dirs(&format!("{}-", self.ns));
        // The scratch dir itself goes when `self.dir` drops, after this.
    }
}

impl Containerd {
    /// The orderly way first, through containerd: force-delete every task (the shim
    /// kills it and calls the runtime's `delete`), then every container and snapshot.
    fn remove_tasks_and_containers(&self) {
        for id in self.list(&["task", "ls", "-q"]) {
            let _ = self.ctr_within(&["task", "delete", "--force", &id], CLEANUP_TIMEOUT);
        }
        for id in self.list(&["containers", "ls", "-q"]) {
            let _ = self.ctr_within(&["containers", "delete", &id], CLEANUP_TIMEOUT);
        }
    }

    fn list(&self, args: &[&str]) -> Vec<String> {
        match self.ctr_within(args, CLEANUP_TIMEOUT) {
            Ok(out) if out.success() => out.stdout.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        }
    }

    /// SIGTERM, a few seconds' grace, then SIGKILL.
    fn stop_daemon(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        signal(child.id(), libc::SIGTERM);
        let deadline = Instant::now() + CLEANUP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// `RUNTIME --root /run/containerd/runc/<ns> delete --force ID` for every container
    /// the runtime still knows in this namespace (a shim that died leaves them).
    fn delete_runtime_state(&self) {
        let root = Path::new(RUNC_ROOT).join(&self.ns);
        let Ok(entries) = fs::read_dir(&root) else {
            return;
        };
        for e in entries.flatten() {
            let mut c = Command::new(&self.runtime);
            c.arg("--root")
                .arg(&root)
                .arg("delete")
                .arg("--force")
                .arg(e.file_name());
            c.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let Ok(mut child) = c.spawn() else { continue };
            let deadline = Instant::now() + CLEANUP_TIMEOUT;
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Sends `sig` to one process.
fn signal(pid: u32, sig: libc::c_int) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) takes two integers and touches no memory of ours; `pid` is a
    // process this test started (or found by its own socket path), never 0 or -1.
    unsafe { libc::kill(pid, sig) };
}

/// SIGKILLs the process group led by `pid` (a command started with `process_group(0)`).
pub fn kill_group(pid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: as in `signal`; a negative pid names the group this test made.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
}

/// Kills every runc.v2 shim serving this containerd, found by `-address <socket>` on its
/// command line (shims outlive containerd by design), and removes the sockets they
/// listened on under /run/containerd/s, which a killed shim cannot.
fn kill_shims(socket: &Path) {
    let Ok(procs) = fs::read_dir("/proc") else {
        return;
    };
    let socket = socket.as_os_str().as_encoded_bytes();
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = fs::read(p.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_shim = args
            .first()
            .is_some_and(|a| a.ends_with(b"containerd-shim-runc-v2"));
        let ours = args
            .windows(2)
            .any(|w| w[0] == b"-address" && w[1] == socket);
        if is_shim && ours {
            let sockets = unix_sockets_of(&p.path());
            // The shim leads its own process group (containerd starts it with setpgid):
            // the group takes a runtime call that hangs along with it.
            kill_group(pid);
            signal(pid, libc::SIGKILL);
            for s in sockets.iter().filter(|s| s.starts_with(SHIM_SOCKETS)) {
                let _ = fs::remove_file(s);
            }
        }
    }
}

/// The paths of the unix sockets process `proc` (a /proc/<pid> dir) holds open: its
/// `socket:[inode]` fds looked up in /proc/net/unix.
fn unix_sockets_of(proc: &Path) -> Vec<PathBuf> {
    let Ok(fds) = fs::read_dir(proc.join("fd")) else {
        return Vec::new();
    };
    let inodes: Vec<String> = fds
        .flatten()
        .filter_map(|fd| fs::read_link(fd.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    let table = fs::read_to_string(proc.join("net/unix")).unwrap_or_default();
    // Num RefCount Protocol Flags Type St Inode Path
    table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.get(6).is_some_and(|i| inodes.iter().any(|x| x == i)))
        .filter_map(|f| f.get(7).map(PathBuf::from))
        .collect()
}

/// `/sys/fs/cgroup/<hierarchy>/<ns>` for every hierarchy that has it: `ctr run` puts each
/// container at cgroupsPath `/<ns>/<id>`, and a runtime's `delete` removes only `<id>`.
pub fn cgroup_dirs(ns: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(CGROUP_ROOT) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path().join(ns))
        .filter(|p| p.is_dir())
        .collect()
}

/// Kills whatever still runs in the namespace's cgroups and removes them, so that no v1
/// hierarchy keeps child cgroups (HOST.md: those block moving a controller to v2).
fn remove_cgroups(ns: &str) {
    let dirs = cgroup_dirs(ns);
    if dirs.is_empty() {
        return;
    }
    let mut all = Vec::new();
    for d in &dirs {
        walk_dirs(d, &mut all);
    }
    // A frozen (paused) task only dies once thawed.
    for d in &all {
        let _ = fs::write(d.join("freezer.state"), "THAWED");
    }
    for d in &all {
        for pid in fs::read_to_string(d.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
        {
            if let Ok(pid) = pid.trim().parse() {
                signal(pid, libc::SIGKILL);
            }
        }
    }
    // Deepest first; killed tasks take a moment to leave their cgroups.
    all.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    let deadline = Instant::now() + CLEANUP_TIMEOUT;
    loop {
        all.retain(|d| fs::remove_dir(d).is_err() && d.exists());
        if all.is_empty() || Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn walk_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk_dirs(&e.path(), out);
        }
    }
}

/// Lazily unmounts everything mounted under `dir` (the shim's rootfs overlays), topmost
/// first, so that removing the scratch dir cannot reach into a mounted layer.
fn unmount_under(dir: &Path) {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let prefix = format!("{}/", dir.display());
    let points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|p| p.starts_with(&prefix))
        .collect();
    for p in points.iter().rev() {
        let Ok(c) = std::ffi::CString::new(p.as_str()) else {
            continue;
        };
        // SAFETY: `c` is a NUL-terminated string that outlives the call; umount2 only
        // reads it.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

/// mountinfo writes space, tab, newline and backslash in paths as `\ooo` octal.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b.get(i + 1..i + 4).and_then(|d| {
            let d = std::str::from_utf8(d).ok()?;
            u8::from_str_radix(d, 8).ok()
        });
        match (b[i], octal) {
            (b'\\', Some(v)) => {
                out.push(v);
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Removes the fifo dirs of this test's processes: ctr names the fifos `<id>-stdin`, …,
/// and every id of the test starts with `prefix`.
fn remove_fifo_dirs(prefix: &str) {
    let Ok(dirs) = fs::read_dir(FIFO_ROOT) else {
        return;
    };
    for d in dirs.flatten() {
        let Ok(files) = fs::read_dir(d.path()) else {
            continue;
        };
        let ours = files
            .flatten()
            .any(|f| f.file_name().to_string_lossy().starts_with(prefix));
        if ours {
            let _ = fs::remove_dir_all(d.path());
        }
    }
}
