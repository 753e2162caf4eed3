//! `state.json`: what create learned and later commands need. Written atomically
//! (temp file + rename) so that a reader never sees half a state.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{io_err, ContainerError};
use crate::spec::Spec;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    pub id: String,
    /// Host pid of the container's init; 0 before it exists.
    pub pid: i32,
    /// The init's start time (field 22 of /proc/PID/stat), to tell it from a reused pid.
    pub start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339, as runc prints it.
    pub created: String,
    pub owner: String,
    pub annotations: BTreeMap<String, String>,
    /// Cgroup directories the container was placed in, one per hierarchy.
    pub cgroup_paths: Vec<PathBuf>,
    /// The config as it was at create time (hooks, process defaults for exec).
    pub config: Spec,
    /// Set once `start` ran (the fifo is gone), kept for a clear status after restarts.
    pub started: bool,
}

impl State {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("state.json")
    }

    pub fn read(dir: &Path) -> Result<State, ContainerError> {
        let path = Self::path(dir);
        let data = std::fs::read(&path).map_err(io_err("read state", &path))?;
        serde_json::from_slice(&data).map_err(|source| ContainerError::State { path, source })
    }

    pub fn write(&self, dir: &Path) -> Result<(), ContainerError> {
        let path = Self::path(dir);
        let tmp = dir.join(".state.json.tmp");
        let data = serde_json::to_vec(self).map_err(|source| ContainerError::State {
            path: path.clone(),
            source,
        })?;
        let mut f = std::fs::File::create(&tmp).map_err(io_err("write state", &tmp))?;
        f.write_all(&data).map_err(io_err("write state", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_err("rename state", &path))
    }

    /// The OCI state document (`runc state`'s JSON) for a given status.
    pub fn oci_json(&self, status: super::Status) -> serde_json::Value {
        let mut v = serde_json::json!({
            "ociVersion": crate::OCI_VERSION,
            "id": self.id,
            "pid": if status == super::Status::Stopped { 0 } else { self.pid },
            "status": status.as_str(),
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": self.owner,
        });
        if !self.annotations.is_empty() {
            v["annotations"] = serde_json::json!(self.annotations);
        }
        v
    }
}

/// Reads the start time of `pid` (field 22 of /proc/PID/stat), and whether it is a zombie.
pub fn proc_start_time(pid: i32) -> Option<(u64, bool)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parens: the fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?;
    // `rest` starts at field 3 (state); start time is field 22.
    let start = fields.nth(22 - 4)?.parse().ok()?;
    Some((start, state == "Z" || state == "X"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_of_self() {
        let (t, zombie) = proc_start_time(std::process::id() as i32).unwrap();
        assert!(t > 0);
        assert!(!zombie);
    }

    #[test]
    fn roundtrip() {
        let d = tempfile::tempdir().unwrap();
        let s = State {
            id: "x".into(),
            pid: 42,
            ..Default::default()
        };
        s.write(d.path()).unwrap();
        assert_eq!(State::read(d.path()).unwrap().pid, 42);
    }
}
