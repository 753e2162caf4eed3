//! Cases on cgroup v2 controllers, on this hybrid host: HOST.md's way of handing a v1
//! controller to the unified mount (`umount /sys/fs/cgroup/<ctrl>`) and taking it
//! back (`mount -t cgroup -o <ctrl> …`), in a guard that puts the host back even when
//! the case panics.
//!
//! The kernel moves a controller only while its v1 hierarchy has no child cgroup, so
//! no container of this suite may exist meanwhile: every case holds the suite lock
//! shared while it runs, a `cgroup_v2` case holds it exclusively (a turnstile lock
//! keeps a steady stream of shared holders from starving it). nextest runs the
//! `cgroup_v2` cases one at a time (.config/nextest.toml). Child cgroups that other
//! test suites make (named `hoist…`, `res-…`) are waited for a few seconds; any other
//! child cgroup (the machine's own) makes the case skip, loudly, leaving the host as
//! it was. What this cannot stop: another suite making a container in the second the
//! controller spends on v2.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cgroups::{host_has_v1, host_has_v2};
use crate::harness::{fail, host, CaseResult, Rt, Stop};

const MAIN_LOCK: &str = "/run/lock/hoist-conformance-cgroups.lock";
const TURNSTILE: &str = "/run/lock/hoist-conformance-cgroups.turnstile";
const UNIFIED: &str = "/sys/fs/cgroup/unified";

fn flock(f: &File, op: libc::c_int) -> std::io::Result<()> {
    loop {
        // SAFETY: flock on a descriptor this File owns and keeps open.
        if unsafe { libc::flock(f.as_raw_fd(), op) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn open_lock(path: &str) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
}

/// The suite lock, held for the life of this value.
pub struct SuiteLock {
    _main: File,
}

impl SuiteLock {
    /// Held by every case that is not a `cgroup_v2` one (none when the lock file
    /// cannot be made: then nothing guards, as before this lock existed).
    pub fn shared() -> Option<Self> {
        let turnstile = open_lock(TURNSTILE).ok()?;
        flock(&turnstile, libc::LOCK_EX).ok()?;
        drop(turnstile);
        let main = open_lock(MAIN_LOCK).ok()?;
        flock(&main, libc::LOCK_SH).ok()?;
        Some(SuiteLock { _main: main })
    }

    /// Held by a `cgroup_v2` case: waits for every running case to finish.
    pub fn exclusive() -> Result<Self, Stop> {
        let io = |e: std::io::Error| Stop::Skip(format!("suite lock {MAIN_LOCK}: {e}"));
        let turnstile = open_lock(TURNSTILE).map_err(io)?;
        flock(&turnstile, libc::LOCK_EX).map_err(io)?;
        let main = open_lock(MAIN_LOCK).map_err(io)?;
        flock(&main, libc::LOCK_EX).map_err(io)?;
        Ok(SuiteLock { _main: main })
    }
}

/// `ctrl`'s hierarchy id and cgroup count in /proc/cgroups (id 0: on v2).
fn proc_cgroups(ctrl: &str) -> Option<(u32, u32)> {
    let text = std::fs::read_to_string("/proc/cgroups").ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.first() == Some(&ctrl))
            .then(|| Some((f.get(1)?.parse().ok()?, f.get(2)?.parse().ok()?)))?
    })
}

/// The controllers of the v1 mount at `dir`, if `dir` is one.
fn v1_mount_controllers(dir: &Path) -> Option<Vec<String>> {
    let m = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    crate::cgroupfs::cgroup_mounts(&m)
        .into_iter()
        .find(|c| !c.v2 && Path::new(&c.point) == dir)
        .map(|c| c.controllers)
}

fn children(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Names of cgroups test suites make and remove within seconds.
fn transient(name: &str) -> bool {
    ["hc-", "hoist", "res-"].iter().any(|p| name.starts_with(p))
}

fn poll(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Why the host cannot move `ctrls` to v2, as far as can be told without trying (the
/// case's `needs`, so that nextest lists it as skipped): no cgroup2 mount, a controller
/// co-mounted with another, or child cgroups no test suite made (the machine's own).
/// A mount something else holds busy only shows when the case tries.
pub fn needs_v2(ctrls: &[&str]) -> Option<String> {
    if !Path::new(UNIFIED).join("cgroup.controllers").exists() {
        return Some(format!("no cgroup2 mount at {UNIFIED}"));
    }
    ctrls.iter().find_map(|&ctrl| {
        if !host_has_v1(ctrl) && host_has_v2(ctrl) {
            return None;
        }
        v1_obstacle(ctrl)
    })
}

/// Why the v1 hierarchy of `ctrl` cannot be released, if it cannot.
fn v1_obstacle(ctrl: &str) -> Option<String> {
    let mount = Path::new("/sys/fs/cgroup").join(ctrl);
    match v1_mount_controllers(&mount) {
        Some(c) if c == [ctrl] => {}
        other => {
            return Some(format!(
                "{} is not a v1 mount of {ctrl} alone ({other:?}): left alone",
                mount.display()
            ))
        }
    }
    let foreign: Vec<String> = children(&mount)
        .into_iter()
        .filter(|c| !transient(c))
        .map(|c| mount.join(c).display().to_string())
        .collect();
    (!foreign.is_empty()).then(|| {
        format!(
            "the v1 {ctrl} hierarchy has child cgroups no test suite made ({}): the kernel \
             cannot hand it to cgroup v2 while they live",
            foreign[..foreign.len().min(3)].join(", ")
        )
    })
}

/// Whether something holds the mount at `dir` (an umount would fail with EBUSY), asked
/// without unmounting: umount2(MNT_EXPIRE) fails with EBUSY on a busy mount and with
/// EAGAIN on an idle one, which it only marks as expired (any access clears that).
fn mount_busy(dir: &Path) -> Option<String> {
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: `c` is a NUL-terminated path alive for the call; MNT_EXPIRE never
    // unmounts on a first call.
    let r = unsafe { libc::umount2(c.as_ptr(), libc::MNT_EXPIRE) };
    let e = std::io::Error::last_os_error();
    (r != 0 && e.raw_os_error() == Some(libc::EBUSY)).then(|| {
        format!(
            "{} is busy: a process outside this suite holds the mount (on the sandboxes \
             this suite was written on, the init that mounted it at boot)",
            dir.display()
        )
    })
}

/// Controllers moved to v2 by this case, and the lock held while they are there.
pub struct V2 {
    moved: Vec<(&'static str, PathBuf)>,
    restored: bool,
    _lock: SuiteLock,
}

/// Puts every controller of `ctrls` on the v2 mount (those already there stay), or
/// says why it cannot (`Stop::Skip`; the host is then as it was).
pub fn release(ctrls: &[&'static str]) -> Result<V2, Stop> {
    if !Path::new(UNIFIED).join("cgroup.controllers").exists() {
        return Err(Stop::Skip(format!("no cgroup2 mount at {UNIFIED}")));
    }
    let lock = SuiteLock::exclusive()?;
    let mut v2 = V2 {
        moved: Vec::new(),
        restored: false,
        _lock: lock,
    };
    for &ctrl in ctrls {
        if !host_has_v1(ctrl) && host_has_v2(ctrl) {
            continue;
        }
        if let Some(why) = v1_obstacle(ctrl) {
            return Err(Stop::Skip(why));
        }
        let mount = Path::new("/sys/fs/cgroup").join(ctrl);
        if let Some(why) = mount_busy(&mount) {
            return Err(Stop::Skip(format!(
                "cannot release {ctrl} from v1 (the host is unchanged): {why}"
            )));
        }
        // Other suites' containers go within seconds. Removed cgroups linger dying in
        // the kernel a moment longer, and an umount while any remains keeps the
        // hierarchy alive, unmounted, for good: /proc/cgroups counts them.
        let empty = poll(Duration::from_secs(5), || {
            children(&mount).is_empty() && proc_cgroups(ctrl).is_some_and(|(_, n)| n == 1)
        });
        if !empty {
            return Err(Stop::Skip(format!(
                "the v1 {ctrl} hierarchy still has child cgroups after 5 s: {:?} \
                 (/proc/cgroups: {:?})",
                children(&mount),
                proc_cgroups(ctrl)
            )));
        }
        if let Err(Stop::Fail(m) | Stop::Skip(m)) = host("umount", &[&mount.to_string_lossy()]) {
            return Err(Stop::Skip(format!(
                "cannot release {ctrl} from v1 (the host is unchanged): {m}"
            )));
        }
        // From here on, the guard mounts it back whatever happens.
        v2.moved.push((ctrl, mount));
        if !poll(Duration::from_secs(5), || host_has_v2(ctrl)) {
            return Err(Stop::Skip(format!(
                "{ctrl} did not come to {UNIFIED} within 5 s of the umount (/proc/cgroups: \
                 {:?}): a cgroup appeared in between, or dying ones linger",
                proc_cgroups(ctrl)
            )));
        }
    }
    Ok(v2)
}

impl V2 {
    /// Puts the moved controllers back on v1; fails the case if one stays off it.
    pub fn restore(mut self) -> CaseResult {
        let r = self.put_back();
        self.restored = true;
        r
    }

    fn put_back(&mut self) -> CaseResult {
        let mut errors = Vec::new();
        for (ctrl, mount) in self.moved.iter().rev() {
            let mut last = String::new();
            let back = poll(Duration::from_secs(15), || match try_restore(ctrl, mount) {
                Ok(()) => true,
                Err(e) => {
                    last = e;
                    false
                }
            });
            if !back {
                let msg = format!(
                    "WARNING: could not put {ctrl} back on cgroup v1 ({last}); restore the \
                     host with: mount -t cgroup -o {ctrl} cgroup {}",
                    mount.display()
                );
                eprintln!("{msg}");
                errors.push(msg);
            }
        }
        self.moved.clear();
        if errors.is_empty() {
            Ok(())
        } else {
            fail(errors.join("\n"))
        }
    }
}

/// One attempt at moving `ctrl` back to v1: off the v2 root's subtree_control (the
/// kernel refuses while a cgroup uses it), then mounted at `mount` again.
fn try_restore(ctrl: &str, mount: &Path) -> Result<(), String> {
    let subtree = Path::new(UNIFIED).join("cgroup.subtree_control");
    let on = std::fs::read_to_string(&subtree).unwrap_or_default();
    if on.split_whitespace().any(|c| c == ctrl) {
        std::fs::write(&subtree, format!("-{ctrl}"))
            .map_err(|e| format!("write -{ctrl} to {}: {e}", subtree.display()))?;
    }
    let target = mount.to_string_lossy();
    let args = ["-t", "cgroup", "-o", ctrl, "cgroup", target.as_ref()];
    host("mount", &args).map_err(|e| match e {
        Stop::Fail(m) | Stop::Skip(m) => m,
    })?;
    if host_has_v1(ctrl) {
        Ok(())
    } else {
        Err(format!("{target} is not a v1 {ctrl} mount after mount"))
    }
}

impl Drop for V2 {
    fn drop(&mut self) {
        if !self.restored && !self.moved.is_empty() {
            let _ = self.put_back();
        }
    }
}

/// Runs `body` with `ctrls` on cgroup v2; deletes the case's containers, then puts the
/// host back, before returning what `body` said.
pub fn with_v2(
    rt: &Rt,
    ctrls: &[&'static str],
    body: impl FnOnce(&Rt) -> CaseResult,
) -> CaseResult {
    let v2 = release(ctrls)?;
    let r = body(rt);
    rt.cleanup();
    let back = v2.restore();
    match (r, back) {
        (Err(Stop::Fail(a)), Err(Stop::Fail(b))) => fail(format!("{a}\n{b}")),
        (Err(e), _) | (Ok(()), Err(e)) => Err(e),
        (Ok(()), Ok(())) => Ok(()),
    }
}
