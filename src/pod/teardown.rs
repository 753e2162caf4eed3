//! Undoing a pod, step by step and idempotently, so that the supervisor at the end of
//! a pod, `stop` of a pod whose supervisor died, and `gc` after a crash all run the
//! same code: the stage1's containers deleted (their cgroups with them; the deletes
//! run while the rest goes on), CNI DEL for every attachment, the pod's run-time tmpfs
//! unmounted with all mounted in it (rootfs overlays, namespace files, shm), leftover
//! cgroups and the stage1's state root removed. A failing step does not stop the rest; every failure is returned.

use std::path::{Path, PathBuf};

use super::stage1::Stage1;
use super::{Pod, PodManifest};
use crate::net::cni::{self, Attachment};
use crate::sys;

/// Tears `pod` down; returns what could not be undone.
pub fn teardown(pod: &Pod, manifest: &PodManifest) -> Vec<String> {
    let mut errors = Vec::new();
    let stage1 = Stage1::new(manifest.stage1.clone(), pod);
    // The stage1's deletes run while the mounts go: they touch neither.
    let mut deleting = Vec::new();
    for app in manifest.apps.iter().rev() {
        match stage1.delete_start(&pod.container_id(&app.name)) {
            Ok(Some(child)) => deleting.push((app, child)),
            Ok(None) => {}
            Err(e) => errors.push(e.to_string()),
        }
    }
    // CNI DEL needs the network namespace file, which goes with the run-time tmpfs.
    errors.extend(detach_networks(pod, manifest));
    // One lazy unmount of the run-time tmpfs takes the rootfs overlays, the namespace
    // files and the shm tmpfs mounted in it.
    let rt = pod.rt_dir();
    match sys::umount_detach(&rt) {
        Ok(_) => match std::fs::remove_dir(&rt) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                errors.push(format!("remove `{}`: {e}", rt.display()));
            }
            _ => {}
        },
        Err(e) => errors.push(format!("unmount `{}`: {e}", rt.display())),
    }
    // Where a pod started by an earlier hoist had it (not a mount point: nothing done).
    let legacy = pod.dir.join("rt");
    if let Err(e) = sys::umount_detach(&legacy) {
        errors.push(format!("unmount `{}`: {e}", legacy.display()));
    }
    let mut cgroups_gone = Vec::new();
    for (app, child) in deleting {
        match stage1.delete_wait(&app.name, child) {
            Ok(true) if stage1.removes_cgroups() => cgroups_gone.push(&app.name),
            Ok(_) => {}
            Err(e) => errors.push(e.to_string()),
        }
    }
    for app in manifest
        .apps
        .iter()
        .filter(|a| !cgroups_gone.contains(&&a.name))
    {
        errors.extend(remove_cgroups(&pod.cgroup_name(&app.name)));
    }
    let root = pod.stage1_root();
    if let Err(e) = std::fs::remove_dir_all(&root) {
        if e.kind() != std::io::ErrorKind::NotFound {
            errors.push(format!("remove `{}`: {e}", root.display()));
        }
    }
    errors.extend(keep_stage1_log(pod));
    errors
}

/// Moves what the stage1 logged (if anything: a pod that ran well usually has an empty
/// log) from the run-time file to the pod's `stage1.log`.
fn keep_stage1_log(pod: &Pod) -> Option<String> {
    let log = pod.stage1_log();
    let kept = pod.dir.join("stage1.log");
    let copied = match std::fs::metadata(&log) {
        Ok(m) if m.len() > 0 => std::fs::copy(&log, &kept).map(drop),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => Err(e),
    };
    if let Err(e) = copied {
        return Some(format!(
            "keep `{}` as `{}`: {e}",
            log.display(),
            kept.display()
        ));
    }
    std::fs::remove_file(&log)
        .err()
        .map(|e| format!("remove `{}`: {e}", log.display()))
}

/// CNI DEL for each attachment recorded under `net/`, newest first; a record is
/// removed once its DEL succeeded.
pub fn detach_networks(pod: &Pod, manifest: &PodManifest) -> Vec<String> {
    let mut errors = Vec::new();
    let dir = pod.dir.join("net");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return errors;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for f in files.iter().rev() {
        let att: Attachment = match std::fs::read(f)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
        {
            Some(a) => a,
            None => {
                errors.push(format!("read `{}`", f.display()));
                continue;
            }
        };
        match cni::del(&att, &manifest.flags.ports) {
            Ok(()) => {
                let _ = std::fs::remove_file(f);
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    errors
}

/// Removes the app's cgroup (`hoist/<container id>`) from every hierarchy where the
/// stage1 left it (crun keeps it in a v1 hugetlb hierarchy, a killed stage1 anywhere).
/// An empty cgroup goes with rmdir; one still busy is reported.
fn remove_cgroups(name: &str) -> Vec<String> {
    let mut errors = Vec::new();
    for mount in cgroup_mounts() {
        let dir = mount.join("hoist").join(name);
        match std::fs::remove_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => errors.push(format!("remove cgroup `{}`: {e}", dir.display())),
        }
    }
    errors
}

/// The mount points of cgroup (v1) and cgroup2 file systems.
fn cgroup_mounts() -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out: Vec<PathBuf> = Vec::new();
    for line in info.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let fstype = right.split(' ').next().unwrap_or_default();
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        if let Some(mp) = left.split(' ').nth(4) {
            let mp = PathBuf::from(unescape(mp));
            if !out.contains(&mp) {
                out.push(mp);
            }
        }
    }
    out
}

/// Mount points at or below any of `dirs` in this mount namespace (one read of
/// /proc/self/mountinfo).
pub fn mounts_under(dirs: &[&Path]) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape(m)))
        .filter(|m| dirs.iter().any(|d| m.starts_with(d)))
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Removes a pod directory that holds no mounts any more (nor has its run-time tmpfs
/// mounted).
pub fn remove_dir(pod: &Pod) -> Result<(), String> {
    let left = mounts_under(&[&pod.dir, &pod.rt_dir()]);
    if !left.is_empty() {
        return Err(format!(
            "pod {} still has mounts ({}); not removing it",
            pod.uuid,
            left.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    std::fs::remove_dir_all(&pod.dir).map_err(|e| format!("remove `{}`: {e}", pod.dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage1_log_kept_only_when_something_was_logged() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(super::super::STAGE1_ROOT).unwrap();
        for (text, kept) in [
            ("{\"level\":\"warning\",\"msg\":\"m\"}\n", true),
            ("", false),
        ] {
            let pod = Pod {
                uuid: crate::pod::new_uuid().unwrap(),
                state: crate::pod::State::Exited,
                dir: d.path().join(kept.to_string()),
            };
            std::fs::create_dir(&pod.dir).unwrap();
            std::fs::write(pod.stage1_log(), text).unwrap();
            assert_eq!(keep_stage1_log(&pod), None);
            assert!(!pod.stage1_log().exists(), "the run-time log is removed");
            let copy = std::fs::read_to_string(pod.dir.join("stage1.log")).ok();
            assert_eq!(copy.as_deref(), kept.then_some(text));
        }
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape(r"/a\040b"), "/a b");
        assert_eq!(unescape(r"/x\134y"), r"/x\y");
        assert_eq!(unescape("/plain"), "/plain");
        assert!(mounts_under(&[Path::new("/")])
            .iter()
            .any(|m| m == Path::new("/")));
    }
}
