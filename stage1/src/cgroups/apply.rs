//! Writes resources into the container's cgroup directories: each v1 hierarchy gets its
//! controllers' files; the v2 directory gets the rest (on a hybrid host, what no v1
//! hierarchy handles), with the controllers enabled in every ancestor's
//! `cgroup.subtree_control`, and the device rules as an eBPF program when no v1
//! devices hierarchy exists.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use super::resources::Resources;
use super::writes::{self, Write};
use super::{devices, hierarchies, CgroupError, Hierarchy};
use crate::spec::Device;
use crate::{logging, sys};

fn write_one(dir: &Path, w: &Write) -> Result<bool, CgroupError> {
    write_to(dir, w, &mut None)
}

/// Writes `w`; `open` is the file the previous write went to, kept open for the next
/// one to the same file (a device cgroup takes one rule a write, a dozen of them).
fn write_to(
    dir: &Path,
    w: &Write,
    open: &mut Option<(String, std::fs::File)>,
) -> Result<bool, CgroupError> {
    let path = dir.join(&w.file);
    if open.as_ref().is_none_or(|(name, _)| *name != w.file) {
        *open = None;
        match std::fs::OpenOptions::new().write(true).open(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                logging::warn(&format!(
                    "cgroup file `{}` does not exist on this host: {} not applied",
                    path.display(),
                    w.value
                ));
                return Ok(false);
            }
            Err(source) => {
                return Err(CgroupError::Write {
                    path,
                    value: w.value.clone(),
                    source,
                })
            }
            Ok(f) => *open = Some((w.file.clone(), f)),
        }
    }
    let Some((_, f)) = open.as_ref() else {
        return Ok(false);
    };
    use std::io::Write as _;
    (&*f)
        .write_all(w.value.as_bytes())
        .map_err(|source| CgroupError::Write {
            path,
            value: w.value.clone(),
            source,
        })?;
    Ok(true)
}

fn write_all(dir: &Path, ws: &[Write]) -> Result<(), CgroupError> {
    let mut open = None;
    for w in ws {
        write_to(dir, w, &mut open)?;
    }
    Ok(())
}

/// v1 memory: the limit must stay below memsw, so raising both means memsw first and
/// lowering both means the limit first; try one order, then the other.
fn write_memory_v1(dir: &Path, ws: &[Write]) -> Result<(), CgroupError> {
    match write_all(dir, ws) {
        Err(e) if ws.iter().any(|w| w.file == "memory.memsw.limit_in_bytes") => {
            let mut swapped: Vec<Write> = ws
                .iter()
                .filter(|w| w.file == "memory.memsw.limit_in_bytes")
                .cloned()
                .collect();
            swapped.extend(
                ws.iter()
                    .filter(|w| w.file != "memory.memsw.limit_in_bytes")
                    .cloned(),
            );
            write_all(dir, &swapped).map_err(|_| e)
        }
        other => other,
    }
}

/// The v2 controllers that v1 hierarchies already handle on this host, by their v1 name.
fn v1_mounted(hs: &[Hierarchy]) -> Vec<&str> {
    hs.iter()
        .filter(|h| !h.is_v2())
        .flat_map(|h| h.controllers.iter().map(String::as_str))
        .collect()
}

/// v1 controller names to v2 ones where they differ.
fn v2_name(v1: &str) -> &str {
    if v1 == "blkio" {
        "io"
    } else {
        v1
    }
}

/// Applies `r` (and the device rules with `devices`) to the container's directories.
/// `set_devices` is false for an `update` that did not touch the device rules.
pub fn apply(
    dirs: &[PathBuf],
    r: &Resources,
    devices: &[Device],
    set_devices: bool,
) -> Result<(), CgroupError> {
    apply_in(&hierarchies()?, dirs, r, devices, set_devices)
}

/// `apply` with the host's hierarchies already read.
pub fn apply_in(
    hs: &[Hierarchy],
    dirs: &[PathBuf],
    r: &Resources,
    devices: &[Device],
    set_devices: bool,
) -> Result<(), CgroupError> {
    let v1 = v1_mounted(hs);
    let rules = devices::effective_rules(&r.devices, devices);
    for d in dirs {
        let Some(h) = hs.iter().find(|h| d.starts_with(&h.mount)) else {
            continue;
        };
        if !h.is_v2() {
            for c in &h.controllers {
                match c.as_str() {
                    "devices" if set_devices => write_all(d, &devices::v1_writes(&rules))?,
                    "memory" => write_memory_v1(d, &writes::v1(c, r))?,
                    other => write_all(d, &writes::v1(other, r))?,
                }
            }
            continue;
        }
        let ws = writes::v2(r, &v1)?;
        let available =
            std::fs::read_to_string(h.mount.join("cgroup.controllers")).unwrap_or_default();
        let available: Vec<&str> = available.split_whitespace().collect();
        let mut wanted: Vec<&str> = Vec::new();
        let mut keep = Vec::new();
        for w in &ws {
            match writes::v2_controller(&w.file) {
                Some(c) if !available.contains(&c) => {
                    logging::warn(&format!(
                        "cgroup controller {c} is not available: {} not applied",
                        w.file
                    ));
                }
                Some(c) => {
                    if !wanted.contains(&c) {
                        wanted.push(c);
                    }
                    keep.push(w.clone());
                }
                None => keep.push(w.clone()),
            }
        }
        // Requested resources whose v1 controller is absent too are said once.
        for c in writes::v1_controllers(r) {
            if !v1.contains(&c)
                && !available.contains(&v2_name(c))
                && !matches!(c, "net_cls" | "net_prio")
            {
                logging::debug(&format!("cgroup controller {c} is on neither hierarchy"));
            }
        }
        enable_controllers(&h.mount, d, &wanted)?;
        write_all(d, &keep)?;
        if set_devices && !v1.contains(&"devices") {
            attach_device_program(d, &rules)?;
        }
    }
    Ok(())
}

/// Writes `+controller` into `cgroup.subtree_control` of every ancestor of `dir` below
/// the mount (and the mount's root), where it is not enabled yet.
fn enable_controllers(mount: &Path, dir: &Path, ctrls: &[&str]) -> Result<(), CgroupError> {
    if ctrls.is_empty() {
        return Ok(());
    }
    let mut cur = mount.to_path_buf();
    let rel: Vec<_> = dir
        .strip_prefix(mount)
        .map(|r| r.components().collect())
        .unwrap_or_default();
    for (i, c) in std::iter::once(None)
        .chain(rel.iter().map(Some))
        .enumerate()
    {
        if let Some(c) = c {
            cur.push(c);
        }
        if i == rel.len() {
            break;
        }
        let file = cur.join("cgroup.subtree_control");
        let now = std::fs::read_to_string(&file).unwrap_or_default();
        let missing: Vec<String> = ctrls
            .iter()
            .filter(|c| !now.split_whitespace().any(|n| n == **c))
            .map(|c| format!("+{c}"))
            .collect();
        if !missing.is_empty() {
            write_one(
                &cur,
                &Write {
                    file: "cgroup.subtree_control".into(),
                    value: missing.join(" "),
                },
            )?;
        }
    }
    Ok(())
}

fn attach_device_program(
    dir: &Path,
    rules: &[super::resources::DeviceRule],
) -> Result<(), CgroupError> {
    let prog = devices::bpf_program(rules);
    let err = |source| CgroupError::Write {
        path: dir.to_path_buf(),
        value: "device eBPF program".into(),
        source,
    };
    let fd = sys::bpf_load_cgroup_device(&prog).map_err(err)?;
    let cg = sys::openat(None, dir, libc::O_RDONLY | libc::O_DIRECTORY, 0).map_err(err)?;
    sys::bpf_attach_cgroup_device(cg.as_fd(), fd.as_fd()).map_err(err)
}
