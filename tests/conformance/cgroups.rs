//! How the resource cases judge a container's cgroups: from the host, the container's
//! cgroup directories are found through /proc/PID/cgroup and the host's cgroup mounts
//! (v1 or v2 per controller, as the host is at that moment), and every value of
//! `linux.resources` is read back with the table the checker uses inside
//! (tests/runtimetest/src/cgroupfs.rs); the checker then runs as the container's
//! process and judges the same values from inside.

use std::fs::File;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::bundle::{checker_bundle, judge_tap};
use crate::cgroupfs::{self, Place};
use crate::common::Bundle;
use crate::harness::{
    ensure, exec_to, fail, new_id, nothing_left, CaseResult, Rt, Stop, CMD_TIMEOUT,
};

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))
}

/// Where `pid`'s cgroups are, seen from the host.
pub fn host_place(pid: i64) -> Result<Place, Stop> {
    let mountinfo = read(Path::new("/proc/self/mountinfo")).map_err(Stop::Fail)?;
    let cgroup = read(Path::new(&format!("/proc/{pid}/cgroup"))).map_err(Stop::Fail)?;
    Ok(Place::new(&mountinfo, &cgroup))
}

/// The harness's own cgroups (the runtime it starts inherits them: the base of a
/// relative cgroupsPath).
fn own_place() -> Result<Place, Stop> {
    host_place(i64::from(std::process::id()))
}

/// Whether the host has a v1 hierarchy with `controller` mounted.
pub fn host_has_v1(controller: &str) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo").is_ok_and(|m| {
        cgroupfs::cgroup_mounts(&m)
            .iter()
            .any(|c| !c.v2 && c.controllers.iter().any(|x| x == controller))
    })
}

/// Whether the host's cgroup2 mount offers `controller`.
pub fn host_has_v2(controller: &str) -> bool {
    let Ok(m) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    cgroupfs::cgroup_mounts(&m)
        .iter()
        .filter(|c| c.v2)
        .any(|c| {
            std::fs::read_to_string(Path::new(&c.point).join("cgroup.controllers"))
                .is_ok_and(|t| t.split_whitespace().any(|x| x == controller))
        })
}

/// Reads back every value `resources` sets from `pid`'s cgroups on the host. Returns
/// the directories read (they must be gone after delete) and what was wrong.
pub fn check_host(pid: i64, resources: &Value) -> Result<(Vec<PathBuf>, Vec<String>), Stop> {
    let place = host_place(pid)?;
    let (expect, notes) = cgroupfs::expectations(resources, &|c| !place.on_v1(c));
    for (what, why) in notes {
        eprintln!("note: host check of {what} skipped: {why}");
    }
    let mut dirs = Vec::new();
    let mut wrong = Vec::new();
    for e in expect {
        let dir = match place.dir(&e.controller) {
            Ok(d) => d,
            Err(m) => {
                wrong.push(format!("host: {}: {m}", e.what));
                continue;
            }
        };
        let file = dir.join(&e.file);
        let r = read(&file).and_then(|t| cgroupfs::judge(&e.want, &t));
        if let Err(m) = r {
            wrong.push(format!("host: {} ({}): {m}", e.what, file.display()));
        }
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    Ok((dirs, wrong))
}

/// Checks that `pid` sits at `cgroups_path` in the hierarchies of `controllers`
/// (absolute: from the hierarchy root; relative: below the runtime's own cgroup).
pub fn check_path(
    pid: i64,
    cgroups_path: &str,
    controllers: &[String],
) -> Result<Vec<String>, Stop> {
    let place = host_place(pid)?;
    let own = own_place()?;
    let mut wrong = Vec::new();
    for c in controllers {
        let member = |p: &Place| {
            let v1 = !c.is_empty() && p.on_v1(c);
            p.cgroups
                .iter()
                .find(|m| {
                    if v1 {
                        m.controllers.iter().any(|x| x == c)
                    } else {
                        m.hierarchy == 0
                    }
                })
                .map(|m| m.path.clone())
        };
        let base = if cgroups_path.starts_with('/') {
            String::new()
        } else {
            member(&own).unwrap_or_default()
        };
        let want = format!(
            "{}/{}",
            base.trim_end_matches('/'),
            cgroups_path.trim_start_matches('/')
        );
        let got = member(&place);
        if got.as_deref() != Some(want.as_str()) {
            wrong.push(format!(
                "cgroupsPath {cgroups_path:?}: in the {} hierarchy the container is at {got:?}, expected {want:?}",
                if c.is_empty() { "v2" } else { c.as_str() }
            ));
        }
    }
    Ok(wrong)
}

/// `create` with the container's stdout going to `out`.
pub fn create_to(rt: &Rt, b: &Bundle, id: &str, out: &Path) -> CaseResult {
    rt.remember(id);
    let f = File::create(out).map_err(|e| Stop::Fail(format!("create {}: {e}", out.display())))?;
    let cmd = rt.command(&["create", "--bundle", &b.path().to_string_lossy(), id]);
    let o = exec_to(cmd, f, CMD_TIMEOUT)?;
    ensure(o.ok(), || format!("`create` failed: {}", o.describe()))
}

pub fn pid_of(st: &Value) -> Result<i64, Stop> {
    st["pid"]
        .as_i64()
        .filter(|p| *p > 0)
        .ok_or_else(|| Stop::Fail(format!("state has no pid: {st}")))
}

/// How a resource case is set up.
pub struct Opts<'a> {
    /// cgroupsPath relative (to the runtime's own cgroup) instead of absolute.
    pub relative: bool,
    /// The checker groups to run inside.
    pub groups: &'a [&'a str],
    /// More for expect.json.
    pub expect: Value,
}

impl Default for Opts<'_> {
    fn default() -> Self {
        Opts {
            relative: false,
            groups: &["resources", "cgroups"],
            expect: json!({}),
        }
    }
}

/// A resource case: the checker bundle with `edit`ed resources and a cgroupsPath of
/// its own; `prepare` may add to the rootfs. The values are read from the host while
/// the container is created, then from inside by the checker; after delete its
/// cgroups must be gone.
pub fn run_resources(
    rt: &Rt,
    case: &str,
    opts: Opts,
    edit: impl FnOnce(&mut Value),
    prepare: impl FnOnce(&Bundle) -> CaseResult,
) -> CaseResult {
    let id = new_id(case);
    let path = if opts.relative {
        id.clone()
    } else {
        format!("/{id}")
    };
    let mut expect = json!({ "checks": opts.groups, "cgroup_path": "/" });
    if let (Some(e), Some(more)) = (expect.as_object_mut(), opts.expect.as_object()) {
        e.extend(more.clone());
    }
    let b = checker_bundle(
        case,
        |c| {
            c["linux"]["cgroupsPath"] = json!(path);
            edit(c);
        },
        expect,
    )?;
    prepare(&b)?;
    let out = b.path().join("container.out");
    create_to(rt, &b, &id, &out)?;
    let pid = pid_of(&rt.state(&id)?)?;
    let resources = b.config["linux"]["resources"].clone();
    let (dirs, mut wrong) = check_host(pid, &resources)?;
    let (expect_list, _) = cgroupfs::expectations(&resources, &|_| false);
    let mut controllers: Vec<String> = expect_list.into_iter().map(|e| e.controller).collect();
    controllers.sort();
    controllers.dedup();
    wrong.extend(check_path(pid, &path, &controllers)?);
    rt.ok(&["start", &id])?;
    rt.wait_status(&id, "stopped")?;
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let inside = judge_tap(&text);
    rt.ok(&["delete", &id])?;
    let left = nothing_left(rt, &id);
    let stale: Vec<String> = dirs
        .iter()
        .filter(|d| d.exists())
        .map(|d| d.display().to_string())
        .collect();
    if !stale.is_empty() {
        wrong.push(format!("cgroups left after delete: {stale:?}"));
        for d in &stale {
            let _ = std::fs::remove_dir(d);
        }
    }
    if let Err(Stop::Fail(m)) = inside {
        wrong.push(format!("inside: {m}"));
    }
    if let Err(Stop::Fail(m)) = left {
        wrong.push(m);
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        fail(wrong.join("\n"))
    }
}

/// A started container running `sleep 300` with the `edit`ed config and cgroupsPath
/// `/<id>`; returns the bundle, its id and init pid.
pub fn sleeper(
    rt: &Rt,
    case: &str,
    edit: impl FnOnce(&mut Value),
) -> Result<(Bundle, String, i64), Stop> {
    let id = new_id(case);
    let mut b = Bundle::new(case, &["sleep", "300"]);
    b.config["linux"]["cgroupsPath"] = json!(format!("/{id}"));
    edit(&mut b.config);
    b.write();
    rt.create(&b, &id)?;
    rt.ok(&["start", &id])?;
    let pid = pid_of(&rt.wait_status(&id, "running")?)?;
    Ok((b, id, pid))
}

/// Kills, deletes and checks that nothing of `id` is left.
pub fn finish(rt: &Rt, id: &str) -> CaseResult {
    rt.ok(&["kill", id, "KILL"])?;
    rt.wait_status(id, "stopped")?;
    rt.ok(&["delete", id])?;
    nothing_left(rt, id)
}
