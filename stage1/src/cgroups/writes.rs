//! What to write where: `linux.resources` turned into (file, value) pairs for one v1
//! controller or for a cgroup v2 directory. Pure, so every mapping is unit-tested.
//!
//! We write the files ourselves rather than through cgroups-rs: it reads a hybrid host
//! (these machines) as v1 and ignores the unified mount, and it has no v2 device
//! controller; the files themselves are simple.

use super::resources::{BlockIo, Resources, ThrottleDevice};
use super::CgroupError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub file: String,
    pub value: String,
}

fn w(file: impl Into<String>, value: impl ToString) -> Write {
    Write {
        file: file.into(),
        value: value.to_string(),
    }
}

fn limit_or_max(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

fn invalid(msg: impl Into<String>) -> CgroupError {
    CgroupError::Invalid(msg.into())
}

/// The v1 controllers a resources value touches, for routing on hybrid hosts.
pub fn v1_controllers(r: &Resources) -> Vec<&'static str> {
    let mut v = Vec::new();
    if r.memory.is_some() {
        v.push("memory");
    }
    if let Some(c) = &r.cpu {
        if c.shares.is_some()
            || c.quota.is_some()
            || c.period.is_some()
            || c.burst.is_some()
            || c.realtime_period.is_some()
            || c.realtime_runtime.is_some()
            || c.idle.is_some()
        {
            v.push("cpu");
        }
        if c.cpus.is_some() || c.mems.is_some() {
            v.push("cpuset");
        }
    }
    if r.pids.is_some() {
        v.push("pids");
    }
    if r.block_io.is_some() {
        v.push("blkio");
    }
    if !r.hugepage_limits.is_empty() {
        v.push("hugetlb");
    }
    if r.network.as_ref().is_some_and(|n| n.class_id.is_some()) {
        v.push("net_cls");
    }
    if r.network.as_ref().is_some_and(|n| !n.priorities.is_empty()) {
        v.push("net_prio");
    }
    if !r.rdma.is_empty() {
        v.push("rdma");
    }
    v
}

/// The v1 writes for `controller`.
pub fn v1(controller: &str, r: &Resources) -> Vec<Write> {
    let mut out = Vec::new();
    match controller {
        "memory" => memory_v1(r, &mut out),
        "cpu" => cpu_v1(r, &mut out),
        "cpuset" => {
            if let Some(c) = &r.cpu {
                if let Some(v) = c.cpus.as_deref().filter(|s| !s.is_empty()) {
                    out.push(w("cpuset.cpus", v));
                }
                if let Some(v) = c.mems.as_deref().filter(|s| !s.is_empty()) {
                    out.push(w("cpuset.mems", v));
                }
            }
        }
        "pids" => {
            if let Some(p) = &r.pids {
                out.push(w(
                    "pids.max",
                    if p.limit <= 0 {
                        "max".into()
                    } else {
                        p.limit.to_string()
                    },
                ));
            }
        }
        "blkio" => {
            if let Some(b) = &r.block_io {
                blkio_v1(b, &mut out);
            }
        }
        "hugetlb" => {
            for h in &r.hugepage_limits {
                out.push(w(
                    format!("hugetlb.{}.limit_in_bytes", h.page_size),
                    h.limit,
                ));
            }
        }
        "net_cls" => {
            if let Some(id) = r.network.as_ref().and_then(|n| n.class_id) {
                out.push(w("net_cls.classid", id));
            }
        }
        "net_prio" => {
            for p in r.network.iter().flat_map(|n| &n.priorities) {
                out.push(w(
                    "net_prio.ifpriomap",
                    format!("{} {}", p.name, p.priority),
                ));
            }
        }
        "rdma" => {
            for (dev, l) in &r.rdma {
                out.push(w("rdma.max", rdma_line(dev, l)));
            }
        }
        _ => {}
    }
    out
}

fn memory_v1(r: &Resources, out: &mut Vec<Write>) {
    if let Some(m) = &r.memory {
        if let Some(l) = m.limit {
            out.push(w("memory.limit_in_bytes", l));
        }
        if let Some(s) = m.swap {
            out.push(w("memory.memsw.limit_in_bytes", s));
        }
        if let Some(v) = m.reservation {
            out.push(w("memory.soft_limit_in_bytes", v));
        }
        if let Some(v) = m.kernel_tcp {
            out.push(w("memory.kmem.tcp.limit_in_bytes", v));
        }
        if let Some(v) = m.swappiness {
            out.push(w("memory.swappiness", v));
        }
        if m.disable_oom_killer == Some(true) {
            out.push(w("memory.oom_control", 1));
        }
    }
}

fn cpu_v1(r: &Resources, out: &mut Vec<Write>) {
    if let Some(c) = &r.cpu {
        if let Some(v) = c.shares.filter(|s| *s != 0) {
            out.push(w("cpu.shares", v));
        }
        if let Some(v) = c.period.filter(|p| *p != 0) {
            out.push(w("cpu.cfs_period_us", v));
        }
        if let Some(v) = c.quota.filter(|q| *q != 0) {
            out.push(w("cpu.cfs_quota_us", v));
        }
        if let Some(v) = c.burst {
            out.push(w("cpu.cfs_burst_us", v));
        }
        if let Some(v) = c.realtime_period.filter(|p| *p != 0) {
            out.push(w("cpu.rt_period_us", v));
        }
        if let Some(v) = c.realtime_runtime.filter(|p| *p != 0) {
            out.push(w("cpu.rt_runtime_us", v));
        }
        if let Some(v) = c.idle {
            out.push(w("cpu.idle", v));
        }
    }
}

fn blkio_v1(b: &BlockIo, out: &mut Vec<Write>) {
    if let Some(v) = b.weight.filter(|v| *v != 0) {
        out.push(w("blkio.weight", v));
    }
    if let Some(v) = b.leaf_weight.filter(|v| *v != 0) {
        out.push(w("blkio.leaf_weight", v));
    }
    for d in &b.weight_device {
        if let Some(v) = d.weight {
            out.push(w(
                "blkio.weight_device",
                format!("{}:{} {v}", d.major, d.minor),
            ));
        }
        if let Some(v) = d.leaf_weight {
            out.push(w(
                "blkio.leaf_weight_device",
                format!("{}:{} {v}", d.major, d.minor),
            ));
        }
    }
    let thr = |file: &str, list: &[ThrottleDevice], out: &mut Vec<Write>| {
        for d in list {
            out.push(w(file, format!("{}:{} {}", d.major, d.minor, d.rate)));
        }
    };
    thr(
        "blkio.throttle.read_bps_device",
        &b.throttle_read_bps_device,
        out,
    );
    thr(
        "blkio.throttle.write_bps_device",
        &b.throttle_write_bps_device,
        out,
    );
    thr(
        "blkio.throttle.read_iops_device",
        &b.throttle_read_iops_device,
        out,
    );
    thr(
        "blkio.throttle.write_iops_device",
        &b.throttle_write_iops_device,
        out,
    );
}

fn rdma_line(dev: &str, l: &super::resources::Rdma) -> String {
    let mut s = dev.to_string();
    if let Some(h) = l.hca_handles {
        s.push_str(&format!(" hca_handle={h}"));
    }
    if let Some(o) = l.hca_objects {
        s.push_str(&format!(" hca_object={o}"));
    }
    s
}

/// cpu.shares (2..262144) to cpu.weight (1..10000), the conversion runc and crun use.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

/// blkio weight (10..1000) to io.weight (1..10000).
pub fn blkio_to_io_weight(w: u16) -> u64 {
    if w == 0 {
        return 0;
    }
    1 + (u64::from(w.clamp(10, 1000)) - 10) * 9999 / 990
}

/// The v2 writes for a directory. `skip` names v1 controllers that a v1 hierarchy
/// handles on a hybrid host (their v2 files are left alone).
pub fn v2(r: &Resources, skip: &[&str]) -> Result<Vec<Write>, CgroupError> {
    let mut out = Vec::new();
    let on = |c: &str| !skip.contains(&c);
    if let Some(m) = r.memory.as_ref().filter(|_| on("memory")) {
        memory_v2(m, &mut out)?;
    }
    if let Some(c) = r.cpu.as_ref() {
        if on("cpu") {
            if let Some(s) = c.shares.filter(|s| *s != 0) {
                out.push(w("cpu.weight", shares_to_weight(s)));
            }
            if c.quota.is_some() || c.period.is_some() {
                let q = match c.quota {
                    Some(q) if q > 0 => q.to_string(),
                    _ => "max".to_string(),
                };
                let p = c.period.filter(|p| *p != 0).unwrap_or(100_000);
                out.push(w("cpu.max", format!("{q} {p}")));
            }
            if let Some(b) = c.burst {
                out.push(w("cpu.max.burst", b));
            }
            if let Some(i) = c.idle {
                out.push(w("cpu.idle", i));
            }
            if c.realtime_period.is_some_and(|v| v != 0)
                || c.realtime_runtime.is_some_and(|v| v != 0)
            {
                return Err(invalid(
                    "realtime cpu limits are not supported on cgroup v2",
                ));
            }
        }
        if on("cpuset") {
            if let Some(v) = c.cpus.as_deref().filter(|s| !s.is_empty()) {
                out.push(w("cpuset.cpus", v));
            }
            if let Some(v) = c.mems.as_deref().filter(|s| !s.is_empty()) {
                out.push(w("cpuset.mems", v));
            }
        }
    }
    if let Some(p) = r.pids.as_ref().filter(|_| on("pids")) {
        out.push(w(
            "pids.max",
            if p.limit <= 0 {
                "max".into()
            } else {
                p.limit.to_string()
            },
        ));
    }
    if let Some(b) = r.block_io.as_ref().filter(|_| on("blkio")) {
        if let Some(v) = b.weight.filter(|v| *v != 0) {
            out.push(w("io.weight", blkio_to_io_weight(v)));
        }
        for d in &b.weight_device {
            if let Some(v) = d.weight {
                out.push(w(
                    "io.weight",
                    format!("{}:{} {}", d.major, d.minor, blkio_to_io_weight(v)),
                ));
            }
        }
        for (key, list) in [
            ("rbps", &b.throttle_read_bps_device),
            ("wbps", &b.throttle_write_bps_device),
            ("riops", &b.throttle_read_iops_device),
            ("wiops", &b.throttle_write_iops_device),
        ] {
            for d in list {
                out.push(w(
                    "io.max",
                    format!("{}:{} {key}={}", d.major, d.minor, d.rate),
                ));
            }
        }
    }
    if on("hugetlb") {
        for h in &r.hugepage_limits {
            out.push(w(format!("hugetlb.{}.max", h.page_size), h.limit));
        }
    }
    if on("rdma") {
        for (dev, l) in &r.rdma {
            out.push(w("rdma.max", rdma_line(dev, l)));
        }
    }
    for (k, v) in &r.unified {
        if k.contains('/') || k.starts_with('.') || !k.contains('.') {
            return Err(invalid(format!(
                "unified key `{k}` is not a cgroup file name"
            )));
        }
        out.push(w(k.clone(), v));
    }
    Ok(out)
}

fn memory_v2(m: &super::resources::Memory, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    if let Some(l) = m.limit {
        out.push(w("memory.max", limit_or_max(l)));
    }
    if let Some(v) = m.reservation {
        out.push(w("memory.low", limit_or_max(v)));
    }
    if let Some(s) = m.swap {
        // OCI's swap is memory+swap (v1's memsw); v2 limits swap alone.
        let v = match (s, m.limit) {
            (-1, _) => "max".to_string(),
            (s, Some(l)) if l >= 0 => {
                if s < l {
                    return Err(invalid(format!(
                        "memory.swap {s} is below memory.limit {l}"
                    )));
                }
                (s - l).to_string()
            }
            (0, _) => "0".to_string(),
            _ => return Err(invalid("memory.swap needs memory.limit on cgroup v2")),
        };
        out.push(w("memory.swap.max", v));
    }
    if m.disable_oom_killer == Some(true) {
        crate::logging::warn("cgroup v2 cannot disable the OOM killer: disableOOMKiller ignored");
    }
    Ok(())
}

/// The v2 controller a file belongs to (`memory.max` → `memory`), or None for core
/// files (`cgroup.*`).
pub fn v2_controller(file: &str) -> Option<&str> {
    let c = file.split('.').next()?;
    (c != "cgroup").then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(v: serde_json::Value) -> Resources {
        serde_json::from_value(v).unwrap()
    }

    fn files(ws: &[Write]) -> Vec<(String, String)> {
        ws.iter()
            .map(|w| (w.file.clone(), w.value.clone()))
            .collect()
    }

    #[test]
    fn v1_memory_and_pids() {
        let r = res(
            serde_json::json!({"memory": {"limit": 1048576, "swap": 2097152, "disableOOMKiller": true}, "pids": {"limit": 0}}),
        );
        assert_eq!(
            files(&v1("memory", &r)),
            vec![
                ("memory.limit_in_bytes".into(), "1048576".into()),
                ("memory.memsw.limit_in_bytes".into(), "2097152".into()),
                ("memory.oom_control".into(), "1".into())
            ]
        );
        assert_eq!(
            files(&v1("pids", &r)),
            vec![("pids.max".into(), "max".into())]
        );
    }

    #[test]
    fn v1_cpu_and_blkio() {
        let r = res(
            serde_json::json!({"cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"},
            "blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}]}}),
        );
        assert_eq!(v1("cpu", &r).len(), 3);
        assert_eq!(
            files(&v1("cpuset", &r)),
            vec![("cpuset.cpus".into(), "0".into())]
        );
        assert!(files(&v1("blkio", &r))
            .contains(&("blkio.throttle.read_bps_device".into(), "8:0 1000".into())));
        assert_eq!(v1_controllers(&r), vec!["cpu", "cpuset", "blkio"]);
    }

    #[test]
    fn v2_conversions() {
        let r = res(
            serde_json::json!({"memory": {"limit": 100, "swap": 300}, "cpu": {"shares": 1024, "quota": 20000},
            "unified": {"memory.high": "90"}}),
        );
        let f = files(&v2(&r, &[]).unwrap());
        assert!(f.contains(&("memory.max".into(), "100".into())));
        assert!(f.contains(&("memory.swap.max".into(), "200".into())));
        assert!(f.contains(&("cpu.weight".into(), "39".into())));
        assert!(f.contains(&("cpu.max".into(), "20000 100000".into())));
        assert!(f.contains(&("memory.high".into(), "90".into())));
    }

    #[test]
    fn v2_skips_what_v1_handles_and_rejects_bad_keys() {
        let r = res(serde_json::json!({"memory": {"limit": 100}, "pids": {"limit": 5}}));
        let f = files(&v2(&r, &["memory"]).unwrap());
        assert_eq!(f, vec![("pids.max".into(), "5".into())]);
        let bad = res(serde_json::json!({"unified": {"../x": "1"}}));
        assert!(v2(&bad, &[]).is_err());
        let bad = res(serde_json::json!({"memory": {"limit": 300, "swap": 100}}));
        assert!(v2(&bad, &[]).is_err());
    }

    #[test]
    fn weights() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10000);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10000);
        assert_eq!(v2_controller("memory.max"), Some("memory"));
        assert_eq!(v2_controller("cgroup.freeze"), None);
    }
}
