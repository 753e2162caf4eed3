//! The table: which cgroup file, on v1 or on v2, each field of `linux.resources`
//! sets, and to what.

use serde_json::Value;

/// What a cgroup file must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// The trimmed content, exactly.
    Exact(String),
    /// A byte count the kernel rounds down to whole pages; -1 is unlimited (`max` on
    /// v2, PAGE_COUNTER_MAX pages on v1).
    Bytes(i64),
    /// A cpu or memory-node list, compared as a set (`0-2` is `0,1,2`).
    List(String),
    /// Some line whose whitespace-separated fields begin with these.
    Line(Vec<String>),
    /// io.max: the line of device `dev` has `key=value`.
    Keyed {
        dev: String,
        key: String,
        value: String,
    },
    /// v1 devices.list has a line that grants at least this (type, major, minor, access).
    Device {
        ty: String,
        major: Option<i64>,
        minor: Option<i64>,
        access: String,
    },
}

/// One expected cgroup file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    /// A v1 controller name (where to find the file; `""`: the v2 hierarchy itself).
    pub controller: String,
    pub file: String,
    pub want: Want,
    /// The config field, for messages: `memory.limit`.
    pub what: String,
}

/// What the config asks for that cannot be read from cgroupfs here, and why.
pub type Note = (String, String);

fn exact(v: impl ToString) -> Want {
    Want::Exact(v.to_string())
}

struct Table<'a> {
    on_v2: &'a dyn Fn(&str) -> bool,
    out: Vec<Expect>,
    notes: Vec<Note>,
}

impl Table<'_> {
    fn add(&mut self, controller: &str, file: impl Into<String>, want: Want, what: &str) {
        self.out.push(Expect {
            controller: controller.to_owned(),
            file: file.into(),
            want,
            what: what.to_owned(),
        });
    }

    fn note(&mut self, what: &str, why: &str) {
        self.notes.push((what.to_owned(), why.to_owned()));
    }
}

/// The files `resources` (a config's `linux.resources`) must have set. `on_v2` says
/// whether a v1 controller name is on the v2 hierarchy instead.
pub fn expectations(resources: &Value, on_v2: &dyn Fn(&str) -> bool) -> (Vec<Expect>, Vec<Note>) {
    let mut t = Table {
        on_v2,
        out: Vec::new(),
        notes: Vec::new(),
    };
    if let Some(m) = resources.get("memory") {
        memory(&mut t, m);
    }
    if let Some(c) = resources.get("cpu") {
        cpu(&mut t, c);
    }
    if let Some(l) = resources.pointer("/pids/limit").and_then(Value::as_i64) {
        let v = if l > 0 { l.to_string() } else { "max".into() };
        t.add("pids", "pids.max", Want::Exact(v), "pids.limit");
    }
    if let Some(b) = resources.get("blockIO") {
        block_io(&mut t, b);
    }
    for h in resources
        .get("hugepageLimits")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(size), Some(limit)) = (
            h.get("pageSize").and_then(Value::as_str),
            h.get("limit").and_then(Value::as_u64),
        ) else {
            continue;
        };
        let what = format!("hugepageLimits {size}");
        let file = if (t.on_v2)("hugetlb") {
            format!("hugetlb.{size}.max")
        } else {
            format!("hugetlb.{size}.limit_in_bytes")
        };
        t.add("hugetlb", file, exact(limit), &what);
    }
    if let Some(n) = resources.get("network") {
        network(&mut t, n);
    }
    devices(&mut t, resources);
    if let Some(u) = resources.get("unified").and_then(Value::as_object) {
        for (k, v) in u {
            let what = format!("unified {k}");
            match v.as_str() {
                Some(s) => t.add("", k.as_str(), Want::Exact(s.trim().to_owned()), &what),
                None => t.note(&what, "not a string"),
            }
        }
    }
    (t.out, t.notes)
}

fn memory(t: &mut Table, m: &Value) {
    let num = |k: &str| m.get(k).and_then(Value::as_i64);
    let v2 = (t.on_v2)("memory");
    let limit = num("limit");
    if let Some(l) = limit {
        let f = if v2 {
            "memory.max"
        } else {
            "memory.limit_in_bytes"
        };
        t.add("memory", f, Want::Bytes(l), "memory.limit");
    }
    if let Some(r) = num("reservation") {
        let f = if v2 {
            "memory.low"
        } else {
            "memory.soft_limit_in_bytes"
        };
        t.add("memory", f, Want::Bytes(r), "memory.reservation");
    }
    if let Some(s) = num("swap") {
        if !v2 {
            t.add(
                "memory",
                "memory.memsw.limit_in_bytes",
                Want::Bytes(s),
                "memory.swap",
            );
        } else if s == -1 {
            t.add("memory", "memory.swap.max", exact("max"), "memory.swap");
        } else if let Some(l) = limit.filter(|l| *l > 0 && s >= *l) {
            t.add(
                "memory",
                "memory.swap.max",
                Want::Bytes(s - l),
                "memory.swap",
            );
        } else {
            t.note("memory.swap", "no limit to subtract on cgroup v2");
        }
    }
    if let Some(s) = m.get("swappiness").and_then(Value::as_u64) {
        if v2 {
            t.note("memory.swappiness", "cgroup v2 has no swappiness");
        } else {
            t.add("memory", "memory.swappiness", exact(s), "memory.swappiness");
        }
    }
    if m.get("disableOOMKiller").and_then(Value::as_bool) == Some(true) {
        if v2 {
            t.note(
                "memory.disableOOMKiller",
                "cgroup v2 cannot disable the OOM killer",
            );
        } else {
            let want = Want::Line(vec!["oom_kill_disable".into(), "1".into()]);
            t.add(
                "memory",
                "memory.oom_control",
                want,
                "memory.disableOOMKiller",
            );
        }
    }
    for k in ["kernel", "kernelTCP"] {
        if m.get(k).is_some() {
            t.note(
                &format!("memory.{k}"),
                "deprecated by runtime-spec 1.1; not checked",
            );
        }
    }
}

/// cpu.shares (2..262144) to cpu.weight (1..10000), as runc and crun convert it.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.saturating_sub(2) * 9999) / 262_142
}

/// A blkio weight (10..1000) to io.weight (1..10000), as runc and crun convert it.
pub fn blkio_to_io_weight(w: u64) -> u64 {
    if w == 0 {
        return 0;
    }
    1 + (w.saturating_sub(10) * 9999) / 990
}

fn cpu(t: &mut Table, c: &Value) {
    let num = |k: &str| c.get(k).and_then(Value::as_i64);
    let v2 = (t.on_v2)("cpu");
    if let Some(s) = c.get("shares").and_then(Value::as_u64) {
        if v2 {
            t.add(
                "cpu",
                "cpu.weight",
                exact(shares_to_weight(s)),
                "cpu.shares",
            );
        } else {
            t.add("cpu", "cpu.shares", exact(s), "cpu.shares");
        }
    }
    let (quota, period) = (num("quota"), num("period"));
    if v2 {
        if quota.is_some() || period.is_some() {
            let q = quota
                .filter(|q| *q > 0)
                .map_or_else(|| "max".to_owned(), |q| q.to_string());
            let p = period.filter(|p| *p > 0).unwrap_or(100_000);
            t.add(
                "cpu",
                "cpu.max",
                Want::Exact(format!("{q} {p}")),
                "cpu.quota and cpu.period",
            );
        }
    } else {
        if let Some(q) = quota {
            t.add("cpu", "cpu.cfs_quota_us", exact(q), "cpu.quota");
        }
        if let Some(p) = period {
            t.add("cpu", "cpu.cfs_period_us", exact(p), "cpu.period");
        }
    }
    if let Some(b) = c.get("burst").and_then(Value::as_u64) {
        let f = if v2 {
            "cpu.max.burst"
        } else {
            "cpu.cfs_burst_us"
        };
        t.add("cpu", f, exact(b), "cpu.burst");
    }
    if let Some(i) = num("idle") {
        t.add("cpu", "cpu.idle", exact(i), "cpu.idle");
    }
    for (k, f) in [
        ("realtimeRuntime", "cpu.rt_runtime_us"),
        ("realtimePeriod", "cpu.rt_period_us"),
    ] {
        if let Some(v) = num(k) {
            if v2 {
                t.note(&format!("cpu.{k}"), "cgroup v2 has no realtime limits");
            } else {
                t.add("cpu", f, exact(v), &format!("cpu.{k}"));
            }
        }
    }
    for (k, f) in [("cpus", "cpuset.cpus"), ("mems", "cpuset.mems")] {
        if let Some(v) = c.get(k).and_then(Value::as_str).filter(|v| !v.is_empty()) {
            t.add("cpuset", f, Want::List(v.to_owned()), &format!("cpu.{k}"));
        }
    }
}

fn dev_of(d: &Value) -> Option<String> {
    Some(format!(
        "{}:{}",
        d.get("major")?.as_i64()?,
        d.get("minor")?.as_i64()?
    ))
}

fn block_io(t: &mut Table, b: &Value) {
    let v2 = (t.on_v2)("blkio");
    if let Some(w) = b.get("weight").and_then(Value::as_u64).filter(|w| *w > 0) {
        if v2 {
            let want = Want::Line(vec!["default".into(), blkio_to_io_weight(w).to_string()]);
            t.add("blkio", "io.weight", want, "blockIO.weight");
        } else {
            t.add("blkio", "blkio.weight", exact(w), "blockIO.weight");
        }
    }
    let throttles = [
        (
            "throttleReadBpsDevice",
            "blkio.throttle.read_bps_device",
            "rbps",
        ),
        (
            "throttleWriteBpsDevice",
            "blkio.throttle.write_bps_device",
            "wbps",
        ),
        (
            "throttleReadIOPSDevice",
            "blkio.throttle.read_iops_device",
            "riops",
        ),
        (
            "throttleWriteIOPSDevice",
            "blkio.throttle.write_iops_device",
            "wiops",
        ),
    ];
    for (k, v1_file, key) in throttles {
        for d in b.get(k).and_then(Value::as_array).into_iter().flatten() {
            let (Some(dev), Some(rate)) = (dev_of(d), d.get("rate").and_then(Value::as_u64)) else {
                continue;
            };
            let what = format!("blockIO.{k} {dev}");
            if v2 {
                let want = Want::Keyed {
                    dev,
                    key: key.to_owned(),
                    value: rate.to_string(),
                };
                t.add("blkio", "io.max", want, &what);
            } else {
                t.add(
                    "blkio",
                    v1_file,
                    Want::Line(vec![dev, rate.to_string()]),
                    &what,
                );
            }
        }
    }
    for d in b
        .get("weightDevice")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(dev), Some(w)) = (dev_of(d), d.get("weight").and_then(Value::as_u64)) else {
            continue;
        };
        let what = format!("blockIO.weightDevice {dev}");
        if v2 {
            let want = Want::Line(vec![dev, blkio_to_io_weight(w).to_string()]);
            t.add("blkio", "io.weight", want, &what);
        } else {
            t.add(
                "blkio",
                "blkio.weight_device",
                Want::Line(vec![dev, w.to_string()]),
                &what,
            );
        }
    }
}

fn network(t: &mut Table, n: &Value) {
    if let Some(id) = n.get("classID").and_then(Value::as_u64) {
        if (t.on_v2)("net_cls") {
            t.note("network.classID", "net_cls has no cgroup v2 interface");
        } else {
            t.add("net_cls", "net_cls.classid", exact(id), "network.classID");
        }
    }
    for p in n
        .get("priorities")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(name), Some(prio)) = (
            p.get("name").and_then(Value::as_str),
            p.get("priority").and_then(Value::as_u64),
        ) else {
            continue;
        };
        let what = format!("network.priorities {name}");
        if (t.on_v2)("net_prio") {
            t.note(&what, "net_prio has no cgroup v2 interface");
        } else {
            let want = Want::Line(vec![name.to_owned(), prio.to_string()]);
            t.add("net_prio", "net_prio.ifpriomap", want, &what);
        }
    }
}

fn devices(t: &mut Table, resources: &Value) {
    let rules = resources
        .get("devices")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if rules.is_empty() {
        return;
    }
    if (t.on_v2)("devices") {
        t.note(
            "devices",
            "an eBPF program on cgroup v2: judged by opening devices",
        );
        return;
    }
    for (i, r) in rules.iter().enumerate() {
        if r.get("allow").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let ty = r
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("a")
            .to_owned();
        let major = r.get("major").and_then(Value::as_i64).filter(|m| *m >= 0);
        let minor = r.get("minor").and_then(Value::as_i64).filter(|m| *m >= 0);
        let access = r
            .get("access")
            .and_then(Value::as_str)
            .unwrap_or("rwm")
            .to_owned();
        let what = format!(
            "devices allow {ty} {}:{} {access}",
            major.map_or("*".into(), |m| m.to_string()),
            minor.map_or("*".into(), |m| m.to_string())
        );
        // A later deny may take some of it back; only rules that stand are expected.
        if rules[i + 1..]
            .iter()
            .any(|d| d.get("allow").and_then(Value::as_bool) == Some(false))
        {
            t.note(&what, "a later deny rule may narrow it");
            continue;
        }
        let want = Want::Device {
            ty,
            major,
            minor,
            access,
        };
        t.add("devices", "devices.list", want, &what);
    }
}

#[cfg(test)]
#[allow(unused_imports)] // The conformance harness includes this file too, without its tests.
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conversions() {
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10000);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10000);
        assert_eq!(blkio_to_io_weight(500), 4950);
    }

    #[test]
    fn tables() {
        let r = json!({
            "memory": {"limit": 52_428_800, "swap": 104_857_600, "swappiness": 10},
            "cpu": {"shares": 1024, "quota": 50000, "cpus": "0-1"},
            "pids": {"limit": -1},
        });
        let (v1, notes) = expectations(&r, &|_| false);
        assert!(notes.is_empty());
        assert!(v1.iter().any(|e| e.file == "memory.memsw.limit_in_bytes"));
        assert!(v1
            .iter()
            .any(|e| e.file == "pids.max" && e.want == exact("max")));
        let (v2, notes) = expectations(&r, &|_| true);
        assert_eq!(notes.len(), 1);
        let swap = v2.iter().find(|e| e.file == "memory.swap.max").unwrap();
        assert_eq!(swap.want, Want::Bytes(52_428_800));
        let max = v2.iter().find(|e| e.file == "cpu.max").unwrap();
        assert_eq!(max.want, exact("50000 100000"));
        assert!(v2
            .iter()
            .any(|e| e.file == "cpu.weight" && e.want == exact(39)));
    }
}
