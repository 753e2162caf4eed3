//! What `linux.resources` must look like in cgroupfs, on v1 and on v2, and where a
//! process's cgroup files are. Pure functions over text and JSON, shared by the checker
//! (which reads its own cgroup from inside the container) and the conformance harness
//! (which reads the container's cgroup from the host, through `#[path]`), so that both
//! judge by one table.
//!
//! The v2 values follow the conversions runc and crun share: cpu.shares to cpu.weight,
//! blkio weight to io.weight, OCI `swap` (memory+swap, as v1's memsw) to memory.swap.max.
#![allow(dead_code)]

mod judge;
mod table;

use std::path::PathBuf;

pub use judge::judge;
pub use table::expectations;

/// One cgroup file system mount, from a mountinfo line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgMount {
    pub point: String,
    /// The cgroup (relative to the hierarchy root, or the cgroup namespace root) that
    /// is mounted there.
    pub root: String,
    pub v2: bool,
    /// v1: the controllers of the hierarchy (and `name=…`); v2: empty.
    pub controllers: Vec<String>,
}

/// The cgroup mounts of a mountinfo text (proc(5)); octal escapes in paths decoded.
pub fn cgroup_mounts(mountinfo: &str) -> Vec<CgMount> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let f: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            let (root, point) = (f.get(3)?, f.get(4)?);
            let fstype = *r.first()?;
            let v2 = match fstype {
                "cgroup2" => true,
                "cgroup" => false,
                _ => return None,
            };
            let controllers = if v2 {
                Vec::new()
            } else {
                r.get(2)?
                    .split(',')
                    .filter(|o| {
                        !matches!(*o, "rw" | "ro") && (!o.contains('=') || o.starts_with("name="))
                    })
                    .filter(|o| {
                        !matches!(
                            *o,
                            "nosuid"
                                | "nodev"
                                | "noexec"
                                | "relatime"
                                | "noatime"
                                | "clone_children"
                                | "xattr"
                                | "noprefix"
                                | "cpuset_v2_mode"
                        )
                    })
                    .map(str::to_owned)
                    .collect()
            };
            Some(CgMount {
                point: unescape(point),
                root: unescape(root),
                v2,
                controllers,
            })
        })
        .collect()
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let v = b[i + 1..i + 4]
                .iter()
                .fold(0u32, |a, d| a * 8 + u32::from(d - b'0'));
            if let Ok(v) = u8::try_from(v) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One line of /proc/PID/cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub hierarchy: u32,
    pub controllers: Vec<String>,
    pub path: String,
}

pub fn memberships(proc_cgroup: &str) -> Vec<Membership> {
    proc_cgroup
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            Some(Membership {
                hierarchy: it.next()?.parse().ok()?,
                controllers: it
                    .next()?
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect(),
                path: it.next()?.to_owned(),
            })
        })
        .collect()
}

/// Where a process's cgroup files are, from the mounts and memberships one mount
/// namespace shows.
pub struct Place {
    pub mounts: Vec<CgMount>,
    pub cgroups: Vec<Membership>,
}

impl Place {
    pub fn new(mountinfo: &str, proc_cgroup: &str) -> Self {
        Place {
            mounts: cgroup_mounts(mountinfo),
            cgroups: memberships(proc_cgroup),
        }
    }

    /// Whether a v1 hierarchy carries `controller` (else it is on v2, if anywhere).
    pub fn on_v1(&self, controller: &str) -> bool {
        self.cgroups
            .iter()
            .any(|m| m.hierarchy != 0 && m.controllers.iter().any(|c| c == controller))
    }

    /// The process's cgroup directory for `controller` (a v1 name, or `""` for the v2
    /// hierarchy itself).
    pub fn dir(&self, controller: &str) -> Result<PathBuf, String> {
        let v1 = !controller.is_empty() && self.on_v1(controller);
        let member = self
            .cgroups
            .iter()
            .find(|m| {
                if v1 {
                    m.controllers.iter().any(|c| c == controller)
                } else {
                    m.hierarchy == 0
                }
            })
            .ok_or_else(|| {
                format!("the process is in no cgroup v1 hierarchy of {controller:?} nor in v2")
            })?;
        let mount = self
            .mounts
            .iter()
            .filter(|m| {
                if v1 {
                    !m.v2 && m.controllers.iter().any(|c| c == controller)
                } else {
                    m.v2
                }
            })
            .find(|m| within(&member.path, &m.root).is_some())
            .ok_or_else(|| {
                format!(
                    "no {} mount shows cgroup {} (controller {controller:?})",
                    if v1 { "cgroup v1" } else { "cgroup2" },
                    member.path
                )
            })?;
        let rel = within(&member.path, &mount.root).unwrap_or_default();
        Ok(PathBuf::from(&mount.point).join(rel))
    }
}

/// `path` relative to `root`, when it is `root` or below it.
fn within<'a>(path: &'a str, root: &str) -> Option<&'a str> {
    if root == "/" {
        return Some(path.trim_start_matches('/'));
    }
    let rest = path.strip_prefix(root)?;
    if rest.is_empty() || rest.starts_with('/') {
        Some(rest.trim_start_matches('/'))
    } else {
        None
    }
}

#[cfg(test)]
#[allow(unused_imports)] // The conformance harness includes this file too, without its tests.
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 /process_api/x /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
39 31 0:36 / /sys/fs/cgroup/pids ro,nosuid - cgroup cgroup ro,nosuid,nodev,noexec,relatime,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 31 0:40 / /tmp rw - tmpfs tmpfs rw
";

    const CGROUP: &str = "\
9:name=systemd:/
8:pids:/a
4:memory:/process_api/x/a
1:cpu:/a
0::/a
";

    #[test]
    fn mounts_and_dirs() {
        let m = cgroup_mounts(MOUNTINFO);
        assert_eq!(m.len(), 5);
        assert_eq!(m[3].controllers, vec!["pids"]);
        assert_eq!(m[2].controllers, vec!["name=systemd"]);
        let p = Place::new(MOUNTINFO, CGROUP);
        assert!(p.on_v1("pids"));
        assert!(!p.on_v1("hugetlb"));
        assert_eq!(
            p.dir("pids").unwrap(),
            PathBuf::from("/sys/fs/cgroup/pids/a")
        );
        assert_eq!(
            p.dir("memory").unwrap(),
            PathBuf::from("/sys/fs/cgroup/memory/a")
        );
        assert_eq!(
            p.dir("hugetlb").unwrap(),
            PathBuf::from("/sys/fs/cgroup/unified/a")
        );
        assert!(p.dir("blkio").is_ok());
    }
}
