//! Usage counters for `events`: runc's stats JSON (cpu, memory, pids, hugetlb) read
//! from whichever hierarchy holds each controller, and the OOM-kill counter.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::{hierarchies, Hierarchy};

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
}

fn num(p: &Path) -> u64 {
    read(p).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// `key value` lines (memory.stat, cpu.stat, memory.events) as a map.
pub fn kv(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_string(), it.next()?.parse().ok()?))
        })
        .collect()
}

/// The container's directory in the hierarchy that has `controller` (v1 name), or
/// its v2 directory when that controller lives there.
fn dir_for(
    hs: &[Hierarchy],
    dirs: &[PathBuf],
    controller: &str,
    v2_name: &str,
) -> Option<(PathBuf, bool)> {
    for d in dirs {
        let h = hs.iter().find(|h| d.starts_with(&h.mount))?;
        if !h.is_v2() && h.controllers.iter().any(|c| c == controller) {
            return Some((d.clone(), false));
        }
    }
    for d in dirs {
        let h = hs.iter().find(|h| d.starts_with(&h.mount))?;
        if h.is_v2() {
            let have = read(&h.mount.join("cgroup.controllers")).unwrap_or_default();
            if have.split_whitespace().any(|c| c == v2_name) {
                return Some((d.clone(), true));
            }
        }
    }
    None
}

/// runc's stats object for the container.
pub fn stats(dirs: &[PathBuf]) -> Value {
    let hs = hierarchies().unwrap_or_default();
    let mut out = json!({});
    if let Some((d, v2)) =
        dir_for(&hs, dirs, "cpuacct", "cpu").or_else(|| dir_for(&hs, dirs, "cpu", "cpu"))
    {
        out["cpu"] = if v2 {
            let s = kv(&read(&d.join("cpu.stat")).unwrap_or_default());
            let g = |k: &str| s.get(k).copied().unwrap_or(0) * 1000;
            json!({"usage": {"total": g("usage_usec"), "kernel": g("system_usec"), "user": g("user_usec")},
                   "throttling": {"periods": s.get("nr_periods"), "throttledPeriods": s.get("nr_throttled"), "throttledTime": g("throttled_usec")}})
        } else {
            let percpu: Vec<u64> = read(&d.join("cpuacct.usage_percpu"))
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            let st = kv(&read(&d.join("cpuacct.stat")).unwrap_or_default());
            // cpuacct.stat counts USER_HZ ticks (100 per second).
            let tick = |k: &str| st.get(k).copied().unwrap_or(0) * 10_000_000;
            let mut cpu = json!({"usage": {"total": num(&d.join("cpuacct.usage")), "percpu": percpu, "kernel": tick("system"), "user": tick("user")}});
            // Throttling lives in the cpu controller's cpu.stat, maybe another hierarchy.
            if let Some((c, false)) = dir_for(&hs, dirs, "cpu", "cpu") {
                let s = kv(&read(&c.join("cpu.stat")).unwrap_or_default());
                cpu["throttling"] = json!({"periods": s.get("nr_periods").copied().unwrap_or(0),
                    "throttledPeriods": s.get("nr_throttled").copied().unwrap_or(0),
                    "throttledTime": s.get("throttled_time").copied().unwrap_or(0)});
            }
            cpu
        };
    }
    if let Some((d, v2)) = dir_for(&hs, dirs, "memory", "memory") {
        let raw = kv(&read(&d.join("memory.stat")).unwrap_or_default());
        out["memory"] = if v2 {
            json!({"usage": {"usage": num(&d.join("memory.current")), "max": num(&d.join("memory.peak")),
                             "limit": read(&d.join("memory.max")).and_then(|s| s.parse::<u64>().ok()).unwrap_or(u64::MAX)},
                   "swap": {"usage": num(&d.join("memory.swap.current"))}, "raw": raw})
        } else {
            json!({"usage": {"usage": num(&d.join("memory.usage_in_bytes")), "max": num(&d.join("memory.max_usage_in_bytes")),
                             "failcnt": num(&d.join("memory.failcnt")), "limit": num(&d.join("memory.limit_in_bytes"))},
                   "swap": {"usage": num(&d.join("memory.memsw.usage_in_bytes")), "limit": num(&d.join("memory.memsw.limit_in_bytes"))},
                   "raw": raw})
        };
    }
    if let Some((d, _)) = dir_for(&hs, dirs, "pids", "pids") {
        let limit = read(&d.join("pids.max"))
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        out["pids"] = json!({"current": num(&d.join("pids.current")), "limit": limit});
    }
    out
}

/// How many times the OOM killer killed in the container (v1 memory.oom_control's
/// `oom_kill`, v2 memory.events').
pub fn oom_kills(dirs: &[PathBuf]) -> u64 {
    let hs = hierarchies().unwrap_or_default();
    match dir_for(&hs, dirs, "memory", "memory") {
        Some((d, false)) => kv(&read(&d.join("memory.oom_control")).unwrap_or_default())
            .get("oom_kill")
            .copied()
            .unwrap_or(0),
        Some((d, true)) => kv(&read(&d.join("memory.events")).unwrap_or_default())
            .get("oom_kill")
            .copied()
            .unwrap_or(0),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn kv_lines() {
        let m = super::kv("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
        assert_eq!(m["oom_kill"], 3);
    }
}
