//! Placing a container in its cgroup on every hierarchy the host has (v1, v2, or the
//! hybrid mix of these machines), finding its processes, and removing it on delete.
//! Resource limits come with issue 3; this module only owns the directories.

mod apply;
pub mod devices;
mod join;
mod path;
pub mod resources;
pub mod stats;
pub mod writes;

pub use apply::apply;
pub use join::Joiner;
pub use path::resolve;
pub use resources::Resources;

use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("read `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("create cgroup `{}`", path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("join cgroup `{}`", path.display())]
    Join {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("remove cgroup `{}`", path.display())]
    Remove {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("write {value:?} to `{}`", path.display())]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: io::Error,
    },
    #[error("invalid cgroupsPath `{0}`")]
    InvalidPath(String),
    #[error("invalid cgroup setting: {0}")]
    Invalid(String),
}

/// One mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted on the host.
    pub mount: PathBuf,
    /// The hierarchy-relative path the mount shows (usually "/").
    pub mount_root: String,
    /// v1 controllers and `name=` options; empty for cgroup2.
    pub controllers: Vec<String>,
}

impl Hierarchy {
    pub fn is_v2(&self) -> bool {
        self.controllers.is_empty()
    }
}

/// The cgroup hierarchies in a mountinfo text.
pub fn hierarchies_from(mountinfo: &str) -> Vec<Hierarchy> {
    let mut out: Vec<Hierarchy> = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 5 || r.len() < 3 {
            continue;
        }
        let controllers = match r[0] {
            "cgroup2" => Vec::new(),
            "cgroup" => r[2]
                .split(',')
                .filter(|o| !matches!(*o, "rw" | "ro") && !o.starts_with("release_agent"))
                .filter(|o| {
                    ![
                        "nosuid",
                        "nodev",
                        "noexec",
                        "relatime",
                        "clone_children",
                        "xattr",
                        "noprefix",
                        "cpuset_v2_mode",
                    ]
                    .contains(o)
                })
                .map(str::to_string)
                .collect(),
            _ => continue,
        };
        let h = Hierarchy {
            mount: PathBuf::from(unescape(l[4])),
            mount_root: l[3].to_string(),
            controllers,
        };
        // A hierarchy mounted twice (bind mounts) is used once.
        if !out
            .iter()
            .any(|o| o.controllers == h.controllers && (!h.is_v2() || o.is_v2()))
        {
            out.push(h);
        }
    }
    out
}

/// Undoes mountinfo's octal escapes (space, tab, newline and backslash as `\ooo`),
/// byte by byte, so that a path in any encoding comes back as it was.
pub(crate) fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match oct {
            Some(d) => {
                out.push(
                    d.iter()
                        .fold(0u8, |n, c| n.wrapping_mul(8).wrapping_add(c - b'0')),
                );
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The host's hierarchies, read from /proc/self/mountinfo.
pub fn hierarchies() -> Result<Vec<Hierarchy>, CgroupError> {
    let p = "/proc/self/mountinfo";
    let text = std::fs::read_to_string(p).map_err(|source| CgroupError::Read {
        path: p.into(),
        source,
    })?;
    Ok(hierarchies_from(&text))
}

/// Our own cgroup in each hierarchy, from a /proc/self/cgroup text: (controllers, path).
pub fn own_cgroups_from(text: &str) -> Vec<(Vec<String>, String)> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let _id = it.next()?;
            let ctrls = it.next()?;
            let path = it.next()?;
            let ctrls = if ctrls.is_empty() {
                Vec::new()
            } else {
                ctrls.split(',').map(str::to_string).collect()
            };
            Some((ctrls, path.to_string()))
        })
        .collect()
}

/// The directory of hierarchy-relative `path` in `h`.
fn dir_in(h: &Hierarchy, path: &str) -> PathBuf {
    let rel = path
        .strip_prefix(h.mount_root.trim_end_matches('/'))
        .unwrap_or(path);
    let mut d = h.mount.clone();
    for c in rel.split('/').filter(|c| !c.is_empty()) {
        d.push(c);
    }
    d
}

/// Where a container's cgroup goes in every hierarchy, worked out before anything is
/// made (so that the first state record can name the directories).
pub struct Planned {
    /// The container's directory in each hierarchy, in the order of `hierarchies`.
    pub dirs: Vec<PathBuf>,
    hierarchies: Vec<Hierarchy>,
}

/// Reads the host's hierarchies and our own cgroups and places the container's
/// cgroup in each; makes nothing.
pub fn plan(cgroups_path: Option<&str>, id: &str, systemd: bool) -> Result<Planned, CgroupError> {
    let hs = hierarchies()?;
    let own = std::fs::read_to_string("/proc/self/cgroup").map_err(|source| CgroupError::Read {
        path: "/proc/self/cgroup".into(),
        source,
    })?;
    let own = own_cgroups_from(&own);
    let mut dirs = Vec::with_capacity(hs.len());
    for h in &hs {
        let mine = own
            .iter()
            .find(|(c, _)| {
                if h.is_v2() {
                    c.is_empty()
                } else {
                    *c == h.controllers
                }
            })
            .map_or("/", |(_, p)| p.as_str());
        let rel = resolve(cgroups_path, id, systemd, mine)?;
        dirs.push(dir_in(h, &rel));
    }
    Ok(Planned {
        dirs,
        hierarchies: hs,
    })
}

/// Makes the planned directories and applies `r` and the device rules to them. On a
/// failure to make one, those already made are removed again.
pub fn make(
    p: &Planned,
    r: &Resources,
    devices: &[crate::spec::Device],
) -> Result<(), CgroupError> {
    for (i, (h, dir)) in p.hierarchies.iter().zip(&p.dirs).enumerate() {
        if let Err(e) = mkdir_cgroup(h, dir) {
            remove(&p.dirs[..i]);
            return Err(e);
        }
    }
    apply::apply_in(&p.hierarchies, &p.dirs, r, devices, true)
}

fn mkdir_cgroup(h: &Hierarchy, dir: &Path) -> Result<(), CgroupError> {
    let cpuset = h.controllers.iter().any(|c| c == "cpuset");
    let mut cur = h.mount.clone();
    for c in dir.strip_prefix(&h.mount).unwrap_or(dir).components() {
        let parent = cur.clone();
        cur.push(c);
        match std::fs::create_dir(&cur) {
            Ok(()) if cpuset => inherit_cpuset(&parent, &cur)?,
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(source) => return Err(CgroupError::Create { path: cur, source }),
        }
    }
    Ok(())
}

/// A new v1 cpuset cgroup starts with empty cpus and mems, and joining it fails with
/// ENOSPC until they are set: copy the parent's, as runc does.
fn inherit_cpuset(parent: &Path, dir: &Path) -> Result<(), CgroupError> {
    for f in ["cpuset.cpus", "cpuset.mems"] {
        let v = std::fs::read_to_string(parent.join(f)).map_err(|source| CgroupError::Read {
            path: parent.join(f),
            source,
        })?;
        std::fs::write(dir.join(f), v.trim()).map_err(|source| CgroupError::Create {
            path: dir.join(f),
            source,
        })?;
    }
    Ok(())
}

/// Moves `pid` into every cgroup directory.
pub fn join(dirs: &[PathBuf], pid: i32) -> Result<(), CgroupError> {
    for d in dirs {
        std::fs::write(d.join("cgroup.procs"), pid.to_string()).map_err(|source| {
            CgroupError::Join {
                path: d.clone(),
                source,
            }
        })?;
    }
    Ok(())
}

/// The pids in the container's cgroup (read from the first hierarchy that has them).
pub fn pids(dirs: &[PathBuf]) -> Vec<i32> {
    for d in dirs {
        if let Ok(t) = std::fs::read_to_string(d.join("cgroup.procs")) {
            return t.lines().filter_map(|l| l.trim().parse().ok()).collect();
        }
    }
    Vec::new()
}

/// Whether the freezer (v1 `freezer.state`, v2 `cgroup.freeze`) holds the cgroup.
pub fn is_frozen(dirs: &[PathBuf]) -> bool {
    dirs.iter().any(|d| {
        std::fs::read_to_string(d.join("freezer.state")).is_ok_and(|s| s.trim() == "FROZEN")
            || std::fs::read_to_string(d.join("cgroup.freeze")).is_ok_and(|s| s.trim() == "1")
    })
}

/// Freezes or thaws the container: the v1 freezer where the host has one, else the
/// v2 `cgroup.freeze`; waits (bounded) until the kernel reports the new state.
pub fn freeze(dirs: &[PathBuf], frozen: bool) -> Result<(), CgroupError> {
    let v1 = dirs.iter().find(|d| d.join("freezer.state").exists());
    let (file, value, done) = match v1 {
        Some(_) => (
            "freezer.state",
            if frozen { "FROZEN" } else { "THAWED" },
            if frozen { "FROZEN" } else { "THAWED" },
        ),
        None => (
            "cgroup.freeze",
            if frozen { "1" } else { "0" },
            if frozen { "1" } else { "0" },
        ),
    };
    let dir = v1.or_else(|| dirs.iter().find(|d| d.join("cgroup.freeze").exists()));
    let Some(dir) = dir else {
        return Err(CgroupError::Join {
            path: PathBuf::from("freezer"),
            source: io::Error::from_raw_os_error(libc::ENOENT),
        });
    };
    let path = dir.join(file);
    for _ in 0..1000 {
        std::fs::write(&path, value).map_err(|source| CgroupError::Join {
            path: path.clone(),
            source,
        })?;
        let now = std::fs::read_to_string(&path).map_err(|source| CgroupError::Read {
            path: path.clone(),
            source,
        })?;
        if now.trim() == done {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    Err(CgroupError::Join {
        path,
        source: io::Error::from_raw_os_error(libc::EBUSY),
    })
}

/// Thaws a frozen cgroup (so that SIGKILL can be delivered before delete).
pub fn thaw(dirs: &[PathBuf]) {
    for d in dirs {
        if d.join("freezer.state").exists() {
            let _ = std::fs::write(d.join("freezer.state"), "THAWED");
        }
        if d.join("cgroup.freeze").exists() {
            let _ = std::fs::write(d.join("cgroup.freeze"), "0");
        }
    }
}

/// Removes the directories (best effort for all, the first error returned). An EBUSY
/// right after the last process died is retried briefly: the kernel frees the cgroup
/// asynchronously.
pub fn remove_checked(dirs: &[PathBuf]) -> Result<(), CgroupError> {
    let mut first = None;
    for d in dirs.iter().rev() {
        let mut tries = 0;
        loop {
            match std::fs::remove_dir(d) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 100 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                Err(source) => {
                    first.get_or_insert(CgroupError::Remove {
                        path: d.clone(),
                        source,
                    });
                    break;
                }
            }
        }
    }
    first.map_or(Ok(()), Err)
}

/// `remove_checked` for cleanup paths where the first error is already being reported.
pub fn remove(dirs: &[PathBuf]) {
    let _ = remove_checked(dirs);
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn parses_hybrid() {
        let hs = hierarchies_from(HYBRID);
        assert_eq!(hs.len(), 4);
        assert_eq!(hs[0].controllers, vec!["cpu"]);
        assert_eq!(hs[2].controllers, vec!["name=systemd"]);
        assert!(hs[3].is_v2());
        assert_eq!(hs[3].mount, PathBuf::from("/sys/fs/cgroup/unified"));
    }

    #[test]
    fn own_cgroups() {
        let own = own_cgroups_from("12:cpu,cpuacct:/a\n1:name=systemd:/s\n0::/u\n");
        assert_eq!(
            own[0],
            (
                vec!["cpu".to_string(), "cpuacct".to_string()],
                "/a".to_string()
            )
        );
        assert_eq!(own[2], (vec![], "/u".to_string()));
    }

    #[test]
    fn dirs_follow_mount_root() {
        let h = Hierarchy {
            mount: "/sys/fs/cgroup/cpu".into(),
            mount_root: "/outer".into(),
            controllers: vec!["cpu".into()],
        };
        assert_eq!(
            dir_in(&h, "/outer/x/y"),
            PathBuf::from("/sys/fs/cgroup/cpu/x/y")
        );
        let h = Hierarchy {
            mount_root: "/".into(),
            ..h
        };
        assert_eq!(dir_in(&h, "/x"), PathBuf::from("/sys/fs/cgroup/cpu/x"));
    }

    #[test]
    fn cpuset_inherited_in_fake_fs() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("cpuset.cpus"), "0-1\n").unwrap();
        std::fs::write(t.path().join("cpuset.mems"), "0\n").unwrap();
        let h = Hierarchy {
            mount: t.path().into(),
            mount_root: "/".into(),
            controllers: vec!["cpuset".into()],
        };
        // A plain directory does not make the cpuset files; precreate what the kernel would.
        let dir = t.path().join("a");
        mkdir_cgroup(&h, &dir).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("cpuset.cpus")).unwrap(),
            "0-1"
        );
    }

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/a\\040b/c"), "/a b/c");
        assert_eq!(unescape("/plain"), "/plain");
    }
}
