//! Controllers on cgroup v2, on this hybrid host: a v1 controller is handed to the
//! unified mount for the length of a test (HOST.md: `umount /sys/fs/cgroup/<ctrl>`),
//! the runtime must then use the v2 files (`pids.max`) or, for devices, attach an
//! eBPF program, and the controller goes back to v1 in a guard that runs even when the
//! test panics.
//!
//! hugetlb is on the v2 mount of these machines already: its limit must land in the
//! container's unified directory with nothing moved (the runtime enables the
//! controller in the ancestors' `cgroup.subtree_control`; the test takes the root's
//! back off afterwards, as benches/run.sh needs hugetlb movable to v1 for crun).
//!
//! These tests change host-global state: their names contain `cgroup_v2`, which
//! .config/nextest.toml runs one at a time. Inside this file, they hold the
//! `CgroupParentLock` exclusively, so no other test here has a container meanwhile.
//! The kernel releases a v1 hierarchy only if it has no child cgroups at the moment of
//! the umount (dying ones included); while anyone else's cgroups live there, or while
//! something keeps the mount busy, the test says "SKIPPED" loudly (on stdout and
//! stderr: `--no-capture` shows it) and changes nothing.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::devices::{device_ctr_with, run_script, DENIED};
use crate::support::{
    cgroup_dirs, expect_ok, hierarchies, poll, CgroupParentLock, Ctr, CGROUP_PARENT, CGROUP_ROOT,
};

const UNIFIED: &str = "/sys/fs/cgroup/unified";
/// How long to wait for other tests' cgroups to leave the v1 hierarchy.
const WAIT_EMPTY: Duration = Duration::from_secs(10);

/// `ctrl`'s hierarchy id and cgroup count from /proc/cgroups (id 0: the v2 mount).
fn proc_cgroups(ctrl: &str) -> Option<(u32, u32)> {
    let text = fs::read_to_string("/proc/cgroups").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        if f.next()? != ctrl {
            return None;
        }
        Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
    })
}

/// Whether `dir` is a cgroup v1 mount carrying `ctrl`.
fn v1_mounted(dir: &Path, ctrl: &str) -> bool {
    let Ok(text) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    text.lines().any(|l| {
        let Some((left, right)) = l.split_once(" - ") else {
            return false;
        };
        let mnt = left.split(' ').nth(4).unwrap_or("");
        let r: Vec<&str> = right.split(' ').collect();
        mnt == dir.to_string_lossy()
            && r.first() == Some(&"cgroup")
            && r.get(2).is_some_and(|o| o.split(',').any(|x| x == ctrl))
    })
}

fn child_cgroups(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

fn sh(cmd: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("spawn {cmd}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd} {args:?}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn skip(test: &str, why: &str) {
    eprintln!("SKIPPED {test}: {why}");
    println!("SKIPPED {test}: {why}");
}

/// A v1 controller handed to the v2 mount; `Drop` mounts it back on v1.
struct Released {
    ctrl: &'static str,
    mount: PathBuf,
    /// Held until the controller is back, so that no other test of this file makes a
    /// container in between; dropped after `drop` has run.
    _lock: CgroupParentLock,
}

impl Released {
    /// Releases `ctrl` from v1, or says why it cannot (the host is then unchanged).
    fn take(ctrl: &'static str) -> Result<Self, String> {
        let mount = Path::new(CGROUP_ROOT).join(ctrl);
        if !v1_mounted(&mount, ctrl) {
            return Err(format!(
                "{} is not a cgroup v1 mount of {ctrl}: the host is not as HOST.md \
                 describes it, so it is left alone",
                mount.display()
            ));
        }
        // Others' cgroups first, without the lock: the tests of this file go on
        // meanwhile (their cgroups are under our parent, which is not counted here).
        let others = || -> Vec<PathBuf> {
            child_cgroups(&mount)
                .into_iter()
                .filter(|p| !p.ends_with(CGROUP_PARENT))
                .collect()
        };
        if poll(WAIT_EMPTY, || others().is_empty().then_some(())).is_none() {
            let kids = others();
            let shown: Vec<_> = kids
                .iter()
                .take(5)
                .map(|p| p.display().to_string())
                .collect();
            return Err(format!(
                "{} still has {} child cgroups of others after {WAIT_EMPTY:?} (e.g. \
                 {shown:?}); the kernel cannot release the hierarchy while they live",
                mount.display(),
                kids.len(),
            ));
        }
        let lock = CgroupParentLock::exclusive(Duration::from_secs(40))
            .ok_or("the other tests of this file kept their containers for 40 s")?;
        // Our own parent, empty now that no test of this file has a container.
        for h in hierarchies() {
            let _ = fs::remove_dir(h.join(CGROUP_PARENT));
        }
        // Removed cgroups still count in /proc/cgroups until the kernel frees them.
        let empty = poll(Duration::from_secs(5), || {
            (child_cgroups(&mount).is_empty() && proc_cgroups(ctrl).is_some_and(|(_, n)| n == 1))
                .then_some(())
        });
        if empty.is_none() {
            return Err(format!(
                "{} has child cgroups again: {:?} (/proc/cgroups: {:?})",
                mount.display(),
                child_cgroups(&mount),
                proc_cgroups(ctrl)
            ));
        }
        // A reader of a file there makes the mount busy for a moment: retry briefly.
        let target = mount.to_string_lossy().into_owned();
        let mut busy = String::new();
        let unmounted = poll(Duration::from_secs(3), || match sh("umount", &[&target]) {
            Ok(()) => Some(()),
            Err(e) => {
                busy = e;
                std::thread::sleep(Duration::from_millis(100));
                None
            }
        });
        if unmounted.is_none() {
            return Err(format!(
                "{busy} (no process of this machine shows an open file or cwd there; \
                 whatever holds the mount keeps the controller on v1)"
            ));
        }
        // From here on the guard puts it back, whatever happens next.
        let released = Released {
            ctrl,
            mount,
            _lock: lock,
        };
        let on_v2 = poll(Duration::from_secs(5), || {
            (proc_cgroups(ctrl).is_some_and(|(h, _)| h == 0)).then_some(())
        });
        if on_v2.is_none() {
            // A cgroup appeared between the check and the umount: the hierarchy lives
            // on unmounted; the guard mounts it back.
            return Err(format!(
                "{ctrl} did not come to the v2 mount after umount (/proc/cgroups: {:?})",
                proc_cgroups(ctrl)
            ));
        }
        Ok(released)
    }

    /// One attempt at putting the controller back on v1.
    fn try_restore(&self) -> Result<(), String> {
        // Our cgroups on the v2 mount, then the controller off the v2 root: moving it
        // back needs it unused on v2 (EBUSY otherwise).
        for h in hierarchies() {
            let _ = fs::remove_dir(h.join(CGROUP_PARENT));
        }
        let subtree = Path::new(UNIFIED).join("cgroup.subtree_control");
        let on = fs::read_to_string(&subtree).unwrap_or_default();
        if on.split_whitespace().any(|c| c == self.ctrl) {
            fs::write(&subtree, format!("-{}", self.ctrl))
                .map_err(|e| format!("write -{} to {}: {e}", self.ctrl, subtree.display()))?;
        }
        let target = self.mount.to_string_lossy();
        sh(
            "mount",
            &["-t", "cgroup", "-o", self.ctrl, "cgroup", &target],
        )?;
        if v1_mounted(&self.mount, self.ctrl) {
            Ok(())
        } else {
            Err(format!(
                "{target} is not a v1 {} mount after mount",
                self.ctrl
            ))
        }
    }

    /// Puts the controller back, retrying while the kernel frees the dying v2 cgroups
    /// (or while someone else's container, made in the window, still uses it there).
    fn restore(&self) -> Result<(), String> {
        let mut last = String::new();
        let done = poll(Duration::from_secs(20), || match self.try_restore() {
            Ok(()) => Some(()),
            Err(e) => {
                last = e;
                std::thread::sleep(Duration::from_millis(100));
                None
            }
        });
        done.ok_or(last)
    }
}

impl Drop for Released {
    fn drop(&mut self) {
        if let Err(e) = self.restore() {
            let msg = format!(
                "WARNING: could not put {0} back on cgroup v1 ({e}); restore the host with: \
                 mount -t cgroup -o {0} cgroup {1}",
                self.ctrl,
                self.mount.display()
            );
            eprintln!("{msg}");
            if !std::thread::panicking() {
                panic!("{msg}");
            }
        }
    }
}

/// A container for a v2 test: the test's `Released` holds the lock already.
fn v2_ctr(name: &str, args: &[&str]) -> Ctr {
    Ctr::with_lock(name, args, CgroupParentLock::none())
}

#[test]
fn cgroup_v2_pids_limit() {
    let released = match Released::take("pids") {
        Ok(r) => r,
        Err(why) => return skip("cgroup_v2_pids_limit", &why),
    };
    let script =
        "sh -c 'for i in $(seq 30); do sleep 10 & done' 2>&1; echo forked-all; exec sleep 30";
    let mut c = v2_ctr("v2-pids", &["sh", "-c", script]);
    c.config()["linux"]["resources"]["pids"] = json!({"limit": 10});
    c.write();
    c.create_ok();

    let v2_dir = Path::new(UNIFIED).join(CGROUP_PARENT).join(&c.id);
    let max = fs::read_to_string(v2_dir.join("pids.max"))
        .unwrap_or_else(|e| panic!("{}/pids.max: {e}", v2_dir.display()));
    assert_eq!(max.trim(), "10", "pids.max on the v2 mount");
    // Nothing made in the bare directory the v1 mount left behind.
    let stale = Path::new(CGROUP_ROOT).join("pids").join(CGROUP_PARENT);
    assert!(!stale.exists(), "{} made on tmpfs", stale.display());
    let procs = fs::read_to_string(v2_dir.join("cgroup.procs")).unwrap_or_default();
    assert!(
        procs.lines().any(|l| l.trim() == c.pid().to_string()),
        "init not in {}: {procs:?}",
        v2_dir.display()
    );

    c.start_ok();
    let out = c.wait_stdout("forked-all");
    assert!(
        out.contains("can't fork"),
        "30 background sleeps under a v2 pids.max of 10 should fail to fork:\n{out}"
    );
    let current: u64 = fs::read_to_string(v2_dir.join("pids.current"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(u64::MAX);
    assert!(current <= 10, "pids.current {current} over pids.max 10");

    let stats = c.rt(&["events", "--stats", &c.id]);
    expect_ok(&stats);
    let ev: Value = serde_json::from_str(stats.stdout.trim()).expect("events --stats JSON");
    assert_eq!(ev["data"]["pids"]["limit"], 10, "stats from v2 pids: {ev}");

    c.delete_force_ok();
    assert!(!v2_dir.exists(), "{} left after delete", v2_dir.display());
    assert!(cgroup_dirs(&c.cgroup()).is_empty());
    drop(c);
    drop(released);
    assert!(
        v1_mounted(Path::new("/sys/fs/cgroup/pids"), "pids"),
        "pids is not back on v1"
    );
}

/// With no v1 devices hierarchy the device rules must be an eBPF program of type
/// cgroup-device attached to the container's v2 directory.
#[test]
fn cgroup_v2_devices_ebpf() {
    let released = match Released::take("devices") {
        Ok(r) => r,
        Err(why) => return skip("cgroup_v2_devices_ebpf", &why),
    };
    let deny = device_ctr_with(
        v2_ctr("v2-dev-deny", &["true"]),
        json!([{"allow": false, "access": "rwm"}]),
    );
    let out = run_script(&deny);
    assert!(
        out.contains(&format!("/dev/blk: {DENIED}")),
        "reading b 8:0 under deny-all with the eBPF program: {out}"
    );
    deny.assert_gone();
    drop(deny);

    let allow = device_ctr_with(
        v2_ctr("v2-dev-allow", &["true"]),
        json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "b", "major": 8, "minor": 0, "access": "r"}
        ]),
    );
    let out = run_script(&allow);
    assert!(
        !out.contains(DENIED),
        "b 8:0 r is allowed, yet the eBPF program refused it: {out}"
    );
    allow.assert_gone();
    drop(allow);
    drop(released);
    assert!(
        v1_mounted(Path::new("/sys/fs/cgroup/devices"), "devices"),
        "devices is not back on v1"
    );
}

/// Whether `ctrl` is enabled in the unified root's `cgroup.subtree_control`.
fn root_enables(ctrl: &str) -> bool {
    fs::read_to_string(Path::new(UNIFIED).join("cgroup.subtree_control"))
        .unwrap_or_default()
        .split_whitespace()
        .any(|c| c == ctrl)
}

/// Takes `ctrl` back off the unified root's subtree_control if the test turned it on.
/// It holds the lock exclusively, so that our parent cgroup can go first; a container
/// of someone else's that uses the controller keeps it on (the kernel says EBUSY).
struct RootSubtree {
    ctrl: &'static str,
    was_on: bool,
    _lock: CgroupParentLock,
}

impl Drop for RootSubtree {
    fn drop(&mut self) {
        let _ = fs::remove_dir(Path::new(UNIFIED).join(CGROUP_PARENT));
        if !self.was_on && root_enables(self.ctrl) {
            let _ = fs::write(
                Path::new(UNIFIED).join("cgroup.subtree_control"),
                format!("-{}", self.ctrl),
            );
        }
    }
}

/// On this hybrid host hugetlb lives on the v2 mount: the limit must be written to
/// the container's unified directory (`hugetlb.<size>.max`), with the controller
/// enabled down to it, and the directory must go with delete.
#[test]
fn cgroup_v2_hugetlb_limit_on_the_unified_mount() {
    let have =
        fs::read_to_string(Path::new(UNIFIED).join("cgroup.controllers")).unwrap_or_default();
    if !have.split_whitespace().any(|c| c == "hugetlb") {
        return skip(
            "cgroup_v2_hugetlb_limit_on_the_unified_mount",
            &format!("hugetlb is not on {UNIFIED} (cgroup.controllers: {have:?})"),
        );
    }
    if !Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists() {
        return skip(
            "cgroup_v2_hugetlb_limit_on_the_unified_mount",
            "the kernel has no 2 MB huge pages",
        );
    }
    let Some(lock) = CgroupParentLock::exclusive(Duration::from_secs(40)) else {
        return skip(
            "cgroup_v2_hugetlb_limit_on_the_unified_mount",
            "the other tests of this file kept their containers for 40 s",
        );
    };
    let _root = RootSubtree {
        ctrl: "hugetlb",
        was_on: root_enables("hugetlb"),
        _lock: lock,
    };
    let mut c = v2_ctr("v2-hugetlb", &["sleep", "30"]);
    c.config()["linux"]["resources"]["hugepageLimits"] =
        json!([{"pageSize": "2MB", "limit": 4 << 20}]);
    c.write();
    c.create_ok();

    let v2_dir = Path::new(UNIFIED).join(CGROUP_PARENT).join(&c.id);
    let max = fs::read_to_string(v2_dir.join("hugetlb.2MB.max"))
        .unwrap_or_else(|e| panic!("{}/hugetlb.2MB.max: {e}", v2_dir.display()));
    assert_eq!(max.trim(), (4u64 << 20).to_string(), "hugetlb.2MB.max");
    let parent = Path::new(UNIFIED).join(CGROUP_PARENT);
    let enabled = fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap_or_default();
    assert!(
        enabled.split_whitespace().any(|c| c == "hugetlb"),
        "hugetlb not enabled for the container in {}: {enabled:?}",
        parent.display()
    );
    let procs = fs::read_to_string(v2_dir.join("cgroup.procs")).unwrap_or_default();
    assert!(
        procs.lines().any(|l| l.trim() == c.pid().to_string()),
        "init not in {}: {procs:?}",
        v2_dir.display()
    );

    // update reaches the v2 file too.
    let input = c.io.path().join("resources.json");
    fs::write(
        &input,
        json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 8 << 20}]}).to_string(),
    )
    .expect("write resources.json");
    let mut cmd = crate::support::rt_cmd(&c.rt, &["update", "--resources", "-", &c.id]);
    cmd.stdin(fs::File::open(&input).expect("open resources.json"));
    expect_ok(&crate::support::exec(cmd, None));
    let max = fs::read_to_string(v2_dir.join("hugetlb.2MB.max")).unwrap_or_default();
    assert_eq!(max.trim(), (8u64 << 20).to_string(), "after update");

    c.delete_force_ok();
    assert!(!v2_dir.exists(), "{} left after delete", v2_dir.display());
}
