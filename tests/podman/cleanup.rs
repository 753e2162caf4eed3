//! Tearing a test's podman down, pass or fail: its containers (through podman first),
//! any conmon or `podman container cleanup` still running for it, the runtime's state,
//! the cgroup parent with everything under it, and the overlay and shm mounts under the
//! scratch dir. Nothing here may panic: it runs in `Drop`, often while a test unwinds.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::engine::{Podman, CGROUP_ROOT, CLEANUP_TIMEOUT};

impl Drop for Podman {
    fn drop(&mut self) {
        // Containers run with --cgroups=disabled live in no cgroup of the test's: note
        // their init processes before anything else can go wrong.
        let inits = self.container_inits();
        // The orderly way first: podman stops (SIGKILL at once) and removes every
        // container, which also unmounts their rootfs and calls the runtime's `delete`.
        let _ = self.podman_within(&["rm", "--all", "--force", "--time", "0"], CLEANUP_TIMEOUT);
        let scratch = self.dir.path().to_path_buf();
        kill_processes_naming(&scratch);
        self.delete_runtime_state();
        for (pid, started) in inits {
            if start_time(pid).as_ref() == Some(&started) {
                signal(pid, libc::SIGKILL);
            }
        }
        remove_cgroups(&self.cgroup_parent);
        unmount_under(&scratch);
        // The scratch dir itself goes when `self.dir` drops, after this.
    }
}

impl Podman {
    /// `RUNTIME --root <state> delete --force ID` for every container the runtime still
    /// knows (a conmon that died, or a runtime that failed podman's `delete`, leaves
    /// them).
    fn delete_runtime_state(&self) {
        let root = &self.dirs.runtime_state;
        let Ok(entries) = fs::read_dir(root) else {
            return;
        };
        for e in entries.flatten() {
            let mut c = Command::new(&self.runtime);
            c.arg("--root")
                .arg(root)
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

impl Podman {
    /// The init process of every container podman has a pid file for, with its start
    /// time, so that a pid the kernel has reused since is never killed.
    fn container_inits(&self) -> Vec<(u32, String)> {
        let Ok(entries) = fs::read_dir(self.dirs.runroot.join("overlay-containers")) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| {
                let text = fs::read_to_string(e.path().join("userdata/pidfile")).ok()?;
                let pid = text.trim().parse::<u32>().ok()?;
                Some((pid, start_time(pid)?))
            })
            .collect()
    }
}

/// Field 22 of /proc/<pid>/stat, the process's start time in clock ticks since boot.
fn start_time(pid: u32) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count after its end.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19).map(str::to_owned)
}

/// Sends `sig` to one process.
fn signal(pid: u32, sig: libc::c_int) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    if pid <= 1 {
        return;
    }
    // SAFETY: kill(2) takes two integers and touches no memory of ours; `pid` is a
    // process of this test (found by its scratch path or in its cgroups), never 0, 1 or
    // -1.
    unsafe { libc::kill(pid, sig) };
}

/// SIGKILLs the process group led by `pid` (a command started with `process_group(0)`).
pub fn kill_group(pid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pid) else {
        return;
    };
    if pgid <= 1 {
        return;
    }
    // SAFETY: as in `signal`; a negative pid names the group this test made.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
}

/// The processes (other than this one) with `dir` in their command line: conmon
/// (`-b <bundle>`, `--exit-dir`, its exit command's `--root`), the `podman container
/// cleanup` that conmon starts when a container exits, a runtime call the wrapper made.
/// conmon double-forks away from the process groups `bounded` kills, so they are found
/// by path. They get a moment to finish on their own (cleanup is podman's job), then
/// SIGKILL.
fn kill_processes_naming(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let pids = processes_naming(dir);
        if pids.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            for pid in pids {
                signal(pid, libc::SIGKILL);
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn processes_naming(dir: &Path) -> Vec<u32> {
    let Ok(procs) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = std::process::id();
    let needle = dir.as_os_str().as_encoded_bytes();
    procs
        .flatten()
        .filter_map(|p| {
            let pid = p.file_name().to_str()?.parse::<u32>().ok()?;
            let cmdline = fs::read(p.path().join("cmdline")).ok()?;
            let ours = cmdline.windows(needle.len()).any(|w| w == needle);
            (ours && pid != me).then_some(pid)
        })
        .collect()
}

/// The cgroup hierarchies: `/sys/fs/cgroup/<controller>` for each v1 mount and
/// `/sys/fs/cgroup/unified`.
pub fn hierarchies() -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(CGROUP_ROOT) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect()
}

/// Kills whatever still runs under the test's cgroup parent and removes it in every
/// hierarchy (podman leaves the parent and its `conmon` child behind by design, and no
/// v1 hierarchy may keep child cgroups: HOST.md, moving a controller to v2).
fn remove_cgroups(parent: &str) {
    let rel = parent.trim_start_matches('/');
    if rel.is_empty() {
        return;
    }
    let mut all = Vec::new();
    for h in hierarchies() {
        let d = h.join(rel);
        if d.is_dir() {
            walk_dirs(&d, &mut all);
        }
    }
    if all.is_empty() {
        return;
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

/// Lazily unmounts everything mounted under `dir` (overlay rootfs, the containers' shm
/// tmpfs, the storage driver's own mounts), topmost first, so that removing the scratch
/// dir cannot reach into a mounted layer.
fn unmount_under(dir: &Path) {
    for p in mounts_under(dir).iter().rev() {
        let Ok(c) = std::ffi::CString::new(p.as_str()) else {
            continue;
        };
        // SAFETY: `c` is a NUL-terminated string that outlives the call; umount2 only
        // reads it.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

/// The mount points under `dir` in this mount namespace, in mount order.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = format!("{}/", dir.display());
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|p| p.starts_with(&prefix))
        .collect()
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
