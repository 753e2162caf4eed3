//! Kernel state seen through /proc: `linux.sysctl`, `linux.namespaces`, the id
//! mappings, `linux.timeOffsets` and `linux.cgroupsPath`.

use std::os::unix::fs::MetadataExt;

use serde_json::Value;

use super::Ctx;
use crate::procfs::{self, IdMap};
use crate::tap::Tap;

pub fn sysctl(ctx: &Ctx, tap: &mut Tap) {
    let Some(map) = ctx
        .get("/linux/sysctl")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
    else {
        tap.skip("linux.sysctl", "not set");
        return;
    };
    for (key, want) in map {
        let what = format!("linux.sysctl {key}");
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        let Some(got) = tap.try_ok(
            &what,
            std::fs::read_to_string(&path).map_err(|e| format!("read {path}: {e}")),
        ) else {
            continue;
        };
        // Multi-value sysctls (ip_local_port_range) print with tabs.
        let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        tap.eq(&what, &norm(want.as_str().unwrap_or_default()), &norm(&got));
    }
}

/// `linux.namespaces` types and their names under /proc/self/ns.
const NAMESPACES: &[(&str, &str)] = &[
    ("pid", "pid"),
    ("network", "net"),
    ("mount", "mnt"),
    ("ipc", "ipc"),
    ("uts", "uts"),
    ("user", "user"),
    ("cgroup", "cgroup"),
    ("time", "time"),
];

fn ns_inode(proc_name: &str) -> Result<u64, String> {
    let p = format!("/proc/self/ns/{proc_name}");
    std::fs::metadata(&p)
        .map(|m| m.ino())
        .map_err(|e| format!("stat {p}: {e}"))
}

/// Checks each namespace against the inodes the harness passes in expect.json:
/// `host_namespaces` (the runtime's own, by config type) and `namespace_inodes` (what
/// a `path` in the config points at). A namespace with a path must be that one, one
/// without a path a new one, one not listed the runtime's own.
pub fn namespaces(ctx: &Ctx, tap: &mut Tap) {
    let host = ctx.expect.get("host_namespaces").and_then(Value::as_object);
    let joined = ctx
        .expect
        .get("namespace_inodes")
        .and_then(Value::as_object);
    let configured = ctx.array("/linux/namespaces");
    for &(ty, proc_name) in NAMESPACES {
        let entry = configured
            .iter()
            .find(|n| n.get("type").and_then(Value::as_str) == Some(ty));
        let host_ino = host.and_then(|h| h.get(ty)).and_then(Value::as_u64);
        let what = format!("linux.namespaces {ty}");
        match entry {
            Some(e)
                if e.get("path")
                    .and_then(Value::as_str)
                    .is_some_and(|p| !p.is_empty()) =>
            {
                let what = format!("{what} joins path");
                let Some(want) = joined.and_then(|j| j.get(ty)).and_then(Value::as_u64) else {
                    tap.skip(&what, "expect.json gives no inode for the path");
                    continue;
                };
                if let Some(got) = tap.try_ok(&what, ns_inode(proc_name)) {
                    tap.eq(&what, &want, &got);
                }
            }
            Some(_) => {
                let what = format!("{what} is new");
                let Some(h) = host_ino else {
                    tap.skip(&what, "expect.json gives no host inode");
                    continue;
                };
                if let Some(got) = tap.try_ok(&what, ns_inode(proc_name)) {
                    tap.check(got != h, &what, || {
                        format!("inode {got} is the runtime's own")
                    });
                }
            }
            None => {
                // A kernel without the type (no time namespace) has nothing to share.
                let (Some(h), Ok(got)) = (host_ino, ns_inode(proc_name)) else {
                    continue;
                };
                let what = format!("{what} (not listed) is the runtime's own");
                tap.check(got == h, &what, || format!("expected inode {h}, got {got}"));
            }
        }
    }
}

fn id_maps(ctx: &Ctx, key: &str) -> Vec<IdMap> {
    let num = |m: &Value, k: &str| m.get(k).and_then(Value::as_u64).unwrap_or(0);
    let mut v: Vec<IdMap> = ctx
        .array(&format!("/linux/{key}"))
        .iter()
        .map(|m| IdMap {
            inside: num(m, "containerID"),
            outside: num(m, "hostID"),
            count: num(m, "size"),
        })
        .collect();
    v.sort();
    v
}

pub fn id_mappings(ctx: &Ctx, tap: &mut Tap) {
    for (key, file) in [("uidMappings", "uid_map"), ("gidMappings", "gid_map")] {
        let what = format!("linux.{key}");
        let want = id_maps(ctx, key);
        if want.is_empty() {
            tap.skip(&what, "not set");
            continue;
        }
        let path = format!("/proc/self/{file}");
        let Some(text) = tap.try_ok(&what, std::fs::read_to_string(&path)) else {
            continue;
        };
        if let Some(mut got) = tap.try_ok(&what, procfs::parse_id_map(&text)) {
            got.sort();
            tap.eq(&what, &want, &got);
        }
    }
}

pub fn time_offsets(ctx: &Ctx, tap: &mut Tap) {
    let Some(map) = ctx
        .get("/linux/timeOffsets")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
    else {
        tap.skip("linux.timeOffsets", "not set");
        return;
    };
    let Some(text) = tap.try_ok(
        "linux.timeOffsets",
        std::fs::read_to_string("/proc/self/timens_offsets"),
    ) else {
        return;
    };
    let Some(got) = tap.try_ok("linux.timeOffsets", procfs::parse_timens_offsets(&text)) else {
        return;
    };
    for (clock, off) in map {
        let want = (
            off.get("secs").and_then(Value::as_i64).unwrap_or(0),
            off.get("nanosecs").and_then(Value::as_i64).unwrap_or(0),
        );
        let what = format!("linux.timeOffsets {clock}");
        match got.get(clock) {
            Some(g) => tap.eq(&what, &want, g),
            None => tap.fail(&what, &format!("no {clock} line in timens_offsets")),
        }
    }
}

/// With `linux.cgroupsPath` set, every v1 controller hierarchy (or the v2 one on a
/// pure v2 host) places the process at that path; inside a cgroup namespace, at "/".
/// The harness may name the path it expects in expect.json (`cgroup_path`).
pub fn cgroups(ctx: &Ctx, tap: &mut Tap) {
    let Some(path) = ctx.str_at("/linux/cgroupsPath") else {
        tap.skip("linux.cgroupsPath", "not set");
        return;
    };
    let want = match ctx.expect.get("cgroup_path").and_then(Value::as_str) {
        Some(p) => p.to_owned(),
        None if ctx.has_namespace("cgroup") => "/".to_owned(),
        None if path.starts_with('/') => path.to_owned(),
        None => {
            tap.skip(
                "linux.cgroupsPath",
                "relative path and no cgroup_path in expect.json",
            );
            return;
        }
    };
    let Some(text) = tap.try_ok(
        "linux.cgroupsPath",
        std::fs::read_to_string("/proc/self/cgroup"),
    ) else {
        return;
    };
    let Some(lines) = tap.try_ok("linux.cgroupsPath", procfs::parse_proc_cgroup(&text)) else {
        return;
    };
    let v1: Vec<&procfs::CgroupLine> = lines
        .iter()
        .filter(|l| {
            !l.controllers.is_empty() && !l.controllers.iter().any(|c| c.starts_with("name="))
        })
        .collect();
    let checked: Vec<&procfs::CgroupLine> = if v1.is_empty() {
        lines.iter().collect()
    } else {
        v1
    };
    let wrong: Vec<String> = checked
        .iter()
        .filter(|l| l.path != want)
        .map(|l| format!("{}:{}", l.controllers.join(","), l.path))
        .collect();
    tap.check(
        !checked.is_empty() && wrong.is_empty(),
        &format!("linux.cgroupsPath {path}: process is in {want}"),
        || format!("elsewhere in {wrong:?}"),
    );
}
