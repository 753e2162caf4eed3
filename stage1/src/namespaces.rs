//! Which namespaces a container gets: new ones come from the clone3 flags; ones named
//! by path are opened by the parent and joined by the init (user first, mount last).
//! The pid and time namespaces only apply to children, so the parent joins or makes
//! those before it clones.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::spec::{validate::namespace_flag, IdMapping, Spec};
use crate::sys;

#[derive(Debug, thiserror::Error)]
pub enum NsError {
    #[error("open namespace `{}`", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("join {kind} namespace `{}`", path.display())]
    Join {
        kind: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("create {0} namespace")]
    Unshare(String, #[source] std::io::Error),
    #[error("write `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub struct Join {
    pub kind: String,
    pub flag: i32,
    pub fd: OwnedFd,
    pub path: PathBuf,
}

/// The namespace plan of one container.
pub struct Plan {
    /// New namespaces made by clone3 itself.
    pub clone_flags: u64,
    pub new_user: bool,
    pub new_cgroup: bool,
    pub new_time: bool,
    /// Joined by the init, in this order.
    pub joins: Vec<Join>,
    /// Joined by the parent before clone (they only affect children).
    pub parent_joins: Vec<Join>,
}

impl Plan {
    pub fn has(&self, kind: &str) -> bool {
        let flag = namespace_flag(kind).unwrap_or(0);
        self.clone_flags & flag as u64 != 0
            || (kind == "cgroup" && self.new_cgroup)
            || (kind == "time" && self.new_time)
            || self
                .joins
                .iter()
                .chain(&self.parent_joins)
                .any(|j| j.kind == kind)
    }
}

pub fn plan(spec: &Spec) -> Result<Plan, NsError> {
    let mut p = Plan {
        clone_flags: 0,
        new_user: false,
        new_cgroup: false,
        new_time: false,
        joins: Vec::new(),
        parent_joins: Vec::new(),
    };
    for ns in &spec.linux().namespaces {
        let Some(flag) = namespace_flag(&ns.kind) else {
            continue;
        };
        match &ns.path {
            None => match ns.kind.as_str() {
                // The cgroup namespace must be made after the init joined its cgroup, so
                // that the cgroup is its root: the init unshares it itself.
                "cgroup" => p.new_cgroup = true,
                // Time offsets must be written before any process enters the namespace.
                "time" => p.new_time = true,
                "user" => {
                    p.new_user = true;
                    p.clone_flags |= flag as u64;
                }
                _ => p.clone_flags |= flag as u64,
            },
            Some(path) => {
                let fd =
                    sys::openat(None, path, libc::O_RDONLY, 0).map_err(|source| NsError::Open {
                        path: path.clone(),
                        source,
                    })?;
                let j = Join {
                    kind: ns.kind.clone(),
                    flag,
                    fd,
                    path: path.clone(),
                };
                if matches!(ns.kind.as_str(), "pid" | "time") {
                    p.parent_joins.push(j);
                } else {
                    p.joins.push(j);
                }
            }
        }
    }
    // user first (it grants the rights to join the rest), mount last.
    p.joins.sort_by_key(|j| match j.kind.as_str() {
        "user" => 0,
        "mount" => 2,
        _ => 1,
    });
    Ok(p)
}

/// In the parent, before clone: join pid/time namespaces by path, make a new time
/// namespace with its offsets.
pub fn enter_in_parent(plan: &Plan, spec: &Spec) -> Result<(), NsError> {
    for j in &plan.parent_joins {
        sys::setns(j.fd.as_fd(), j.flag).map_err(|source| NsError::Join {
            kind: j.kind.clone(),
            path: j.path.clone(),
            source,
        })?;
    }
    if plan.new_time {
        sys::unshare(libc::CLONE_NEWTIME).map_err(|e| NsError::Unshare("time".into(), e))?;
        let offsets = &spec.linux().time_offsets;
        if !offsets.is_empty() {
            let text: String = offsets
                .iter()
                .map(|(clock, o)| format!("{clock} {} {}\n", o.secs, o.nanosecs))
                .collect();
            let path = Path::new("/proc/self/timens_offsets");
            std::fs::write(path, text).map_err(|source| NsError::Write {
                path: path.into(),
                source,
            })?;
        }
    }
    Ok(())
}

/// In the init: join the namespaces named by path.
pub fn join_in_child(plan: &Plan) -> Result<(), NsError> {
    for j in &plan.joins {
        sys::setns(j.fd.as_fd(), j.flag).map_err(|source| NsError::Join {
            kind: j.kind.clone(),
            path: j.path.clone(),
            source,
        })?;
    }
    Ok(())
}

/// `uid_map`/`gid_map` text for a mapping list.
pub fn map_text(maps: &[IdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size))
        .collect()
}

/// In the parent: write the init's id maps (one write each, as the kernel requires).
pub fn write_id_maps(pid: i32, spec: &Spec) -> Result<(), NsError> {
    let linux = spec.linux();
    for (file, maps) in [
        ("uid_map", &linux.uid_mappings),
        ("gid_map", &linux.gid_mappings),
    ] {
        let path = PathBuf::from(format!("/proc/{pid}/{file}"));
        std::fs::write(&path, map_text(maps)).map_err(|source| NsError::Write { path, source })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps() {
        let m = [
            IdMapping {
                container_id: 0,
                host_id: 1000,
                size: 10,
            },
            IdMapping {
                container_id: 10,
                host_id: 5,
                size: 1,
            },
        ];
        assert_eq!(map_text(&m), "0 1000 10\n10 5 1\n");
    }

    #[test]
    fn plan_flags() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "linux": {"namespaces": [{"type": "pid"}, {"type": "cgroup"}, {"type": "network"}, {"type": "time"}]}
        }))
        .unwrap();
        let p = plan(&spec).unwrap();
        assert_eq!(
            p.clone_flags,
            (libc::CLONE_NEWPID | libc::CLONE_NEWNET) as u64
        );
        assert!(p.new_cgroup && p.new_time && !p.new_user);
        assert!(p.has("cgroup") && p.has("pid") && !p.has("uts"));
    }

    #[test]
    fn joins_sorted_user_first() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "linux": {"namespaces": [{"type": "mount", "path": "/proc/self/ns/mnt"}, {"type": "user", "path": "/proc/self/ns/user"}, {"type": "uts", "path": "/proc/self/ns/uts"}]}
        }))
        .unwrap();
        let p = plan(&spec).unwrap();
        let kinds: Vec<&str> = p.joins.iter().map(|j| j.kind.as_str()).collect();
        assert_eq!(kinds, ["user", "uts", "mount"]);
    }
}
