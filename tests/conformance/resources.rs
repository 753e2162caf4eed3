//! runtime-tools' `linux_cgroups_*` and `linux_cgroups_relative_*` cases: each sets one
//! part of `linux.resources`, reads every value back from the host while the container
//! is created and from inside once it runs (cgroups.rs), and checks its cgroups are
//! gone after delete. They run on the host as it is (hybrid: v1 for most controllers);
//! the `*_cgroup_v2` variants first hand the controller to the unified mount
//! (cgroup_v2.rs).

use std::path::Path;

use serde_json::{json, Value};

use crate::cgroup_v2::{needs_v2, with_v2};
use crate::cgroups::{host_has_v1, host_has_v2, run_resources, Opts};
use crate::common::Bundle;
use crate::harness::{CaseResult, Rt, Stop};
use crate::Case;

pub fn cases() -> Vec<Case> {
    vec![
        Case::new("linux_cgroups_memory", |rt| {
            memory(rt, "linux_cgroups_memory", false)
        })
        .needs(needs_memory),
        Case::new("linux_cgroups_relative_memory", |rt| {
            memory(rt, "linux_cgroups_relative_memory", true)
        })
        .needs(needs_memory),
        Case::new("linux_cgroups_memory_cgroup_v2", memory_v2).needs(|| needs_v2(&["memory"])),
        Case::new("linux_cgroups_cpus", |rt| {
            cpus(rt, "linux_cgroups_cpus", false)
        }),
        Case::new("linux_cgroups_relative_cpus", |rt| {
            cpus(rt, "linux_cgroups_relative_cpus", true)
        }),
        Case::new("linux_cgroups_cpu_burst_idle", cpu_burst_idle).needs(needs_burst_idle),
        Case::new("linux_cgroups_cpus_cgroup_v2", cpus_v2).needs(|| needs_v2(&["cpu", "cpuset"])),
        Case::new("linux_cgroups_pids", |rt| {
            pids(rt, "linux_cgroups_pids", false)
        }),
        Case::new("linux_cgroups_relative_pids", |rt| {
            pids(rt, "linux_cgroups_relative_pids", true)
        }),
        Case::new("linux_cgroups_pids_cgroup_v2", |rt| {
            with_v2(rt, &["pids"], |rt| {
                pids(rt, "linux_cgroups_pids_cgroup_v2", false)
            })
        })
        .needs(|| needs_v2(&["pids"])),
        Case::new("linux_cgroups_blkio", |rt| {
            blkio(rt, "linux_cgroups_blkio", false)
        })
        .needs(needs_block_device),
        Case::new("linux_cgroups_relative_blkio", |rt| {
            blkio(rt, "linux_cgroups_relative_blkio", true)
        })
        .needs(needs_block_device),
        Case::new("linux_cgroups_blkio_weight", blkio_weight).needs(needs_blkio_weight),
        Case::new("linux_cgroups_blkio_cgroup_v2", |rt| {
            with_v2(rt, &["blkio"], |rt| {
                blkio(rt, "linux_cgroups_blkio_cgroup_v2", false)
            })
        })
        .needs(|| needs_block_device().or_else(|| needs_v2(&["blkio"]))),
        Case::new("linux_cgroups_hugetlb", |rt| {
            hugetlb(rt, "linux_cgroups_hugetlb", false)
        })
        .needs(needs_hugetlb),
        Case::new("linux_cgroups_relative_hugetlb", |rt| {
            hugetlb(rt, "linux_cgroups_relative_hugetlb", true)
        })
        .needs(needs_hugetlb),
        Case::new("linux_cgroups_hugetlb_cgroup_v2", |rt| {
            with_v2(rt, &["hugetlb"], |rt| {
                hugetlb(rt, "linux_cgroups_hugetlb_cgroup_v2", false)
            })
        })
        .needs(|| needs_hugetlb().or_else(|| needs_v2(&["hugetlb"]))),
        Case::new("linux_cgroups_devices", |rt| {
            devices(rt, "linux_cgroups_devices", false)
        }),
        Case::new("linux_cgroups_relative_devices", |rt| {
            devices(rt, "linux_cgroups_relative_devices", true)
        }),
        Case::new("linux_cgroups_devices_cgroup_v2", |rt| {
            with_v2(rt, &["devices"], |rt| {
                devices(rt, "linux_cgroups_devices_cgroup_v2", false)
            })
        })
        .needs(|| needs_v2(&["devices"])),
        Case::new("linux_cgroups_network", |rt| {
            network(rt, "linux_cgroups_network", false)
        })
        .needs(needs_net_cls),
        Case::new("linux_cgroups_relative_network", |rt| {
            network(rt, "linux_cgroups_relative_network", true)
        })
        .needs(needs_net_cls),
    ]
}

fn needs_controller(c: &str) -> Option<String> {
    (!host_has_v1(c) && !host_has_v2(c))
        .then(|| format!("the host has no {c} controller, on v1 or v2"))
}

fn needs_memory() -> Option<String> {
    needs_controller("memory")
}

fn needs_hugetlb() -> Option<String> {
    needs_controller("hugetlb").or_else(|| {
        page_sizes()
            .is_empty()
            .then(|| "no huge page sizes in /sys/kernel/mm/hugepages".into())
    })
}

fn needs_net_cls() -> Option<String> {
    (!host_has_v1("net_cls") || !host_has_v1("net_prio")).then(|| {
        "no cgroup v1 net_cls and net_prio hierarchies (they have no cgroup v2 interface): \
         linux.resources.network cannot be applied on this host"
            .into()
    })
}

fn needs_burst_idle() -> Option<String> {
    let root = Path::new("/sys/fs/cgroup/cpu");
    (host_has_v1("cpu")
        && !(root.join("cpu.cfs_burst_us").exists() && root.join("cpu.idle").exists()))
    .then(|| "the kernel's v1 cpu controller has no cpu.cfs_burst_us or cpu.idle".into())
}

fn needs_blkio_weight() -> Option<String> {
    let root = Path::new("/sys/fs/cgroup/blkio");
    (!root.join("blkio.weight").exists()).then(|| {
        "no blkio.weight on the v1 blkio hierarchy (no BFQ-weighted device here): \
         blockIO.weight cannot be applied"
            .into()
    })
}

fn needs_block_device() -> Option<String> {
    block_device()
        .is_none()
        .then(|| "no block device in /sys/block".into())
}

/// A real block device's major:minor (throttles need one): a disk, else anything.
fn block_device() -> Option<(i64, i64)> {
    let mut devs: Vec<(String, String)> = std::fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let dev = std::fs::read_to_string(e.path().join("dev")).ok()?;
            Some((name, dev.trim().to_owned()))
        })
        .collect();
    devs.sort_by_key(|(n, _)| ["loop", "ram", "zram"].iter().any(|p| n.starts_with(p)));
    let (_, dev) = devs.first()?;
    let (a, b) = dev.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The huge page sizes of the kernel, as runtime-spec names them (`2MB`, `1GB`).
fn page_sizes() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/sys/kernel/mm/hugepages")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let kb: u64 = e
                .file_name()
                .to_string_lossy()
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            Some(match kb {
                k if k >= 1 << 20 => format!("{}GB", k >> 20),
                k if k >= 1 << 10 => format!("{}MB", k >> 10),
                k => format!("{k}KB"),
            })
        })
        .collect();
    v.sort();
    v
}

fn opts(relative: bool) -> Opts<'static> {
    Opts {
        relative,
        ..Opts::default()
    }
}

fn set(c: &mut Value, key: &str, v: Value) {
    c["linux"]["resources"][key] = v;
}

fn no_prepare(_: &Bundle) -> CaseResult {
    Ok(())
}

/// runtime-tools `linux_cgroups_memory`: limit, reservation, swap (memory+swap),
/// swappiness and disableOOMKiller; the kernel and kernelTCP limits it also sets are
/// deprecated (runtime-spec 1.1) and gone from cgroup v2, so they are left out.
fn memory(rt: &Rt, case: &str, relative: bool) -> CaseResult {
    let edit = |c: &mut Value| {
        set(
            c,
            "memory",
            json!({
                "limit": 50_593_792, "reservation": 40_960_000, "swap": 101_187_584,
                "swappiness": 50, "disableOOMKiller": true
            }),
        );
    };
    run_resources(rt, case, opts(relative), edit, no_prepare)
}

/// memory on cgroup v2: memory.max, memory.low, memory.swap.max (swap - limit). Here
/// the memory hierarchy holds the machine's own cgroups, so this usually skips.
fn memory_v2(rt: &Rt) -> CaseResult {
    with_v2(rt, &["memory"], |rt| {
        let edit = |c: &mut Value| {
            set(
                c,
                "memory",
                json!({"limit": 50_593_792, "reservation": 40_960_000, "swap": 101_187_584}),
            );
        };
        run_resources(
            rt,
            "linux_cgroups_memory_cgroup_v2",
            opts(false),
            edit,
            no_prepare,
        )
    })
}

fn cpu_list() -> String {
    let n = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if n > 1 {
        format!("0-{}", n - 1)
    } else {
        "0".into()
    }
}

/// runtime-tools `linux_cgroups_cpus`: shares, quota, period, cpus, mems, and the
/// realtime period and runtime where the kernel has them (CONFIG_RT_GROUP_SCHED; a
/// small runtime, so that parallel cases stay within the root's budget).
fn cpus(rt: &Rt, case: &str, relative: bool) -> CaseResult {
    let rt_sched = Path::new("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists();
    let edit = |c: &mut Value| {
        let mut cpu = json!({
            "shares": 2048, "quota": 200_000, "period": 500_000,
            "cpus": cpu_list(), "mems": "0"
        });
        if rt_sched {
            cpu["realtimePeriod"] = json!(1_000_000);
            cpu["realtimeRuntime"] = json!(10_000);
        }
        set(c, "cpu", cpu);
    };
    run_resources(rt, case, opts(relative), edit, no_prepare)
}

/// runtime-spec 1.1's `cpu.burst` and `cpu.idle` (cpu.cfs_burst_us and cpu.idle on
/// v1). Known runc failure: runc 1.1.5 knows neither field and leaves both at 0.
/// (No shares here: an idle group reads back the kernel's idle weight.)
fn cpu_burst_idle(rt: &Rt) -> CaseResult {
    let edit = |c: &mut Value| {
        set(
            c,
            "cpu",
            json!({"quota": 50_000, "period": 100_000, "burst": 20_000, "idle": 1}),
        );
    };
    run_resources(
        rt,
        "linux_cgroups_cpu_burst_idle",
        opts(false),
        edit,
        no_prepare,
    )
}

/// cpu and cpuset on cgroup v2: cpu.weight (runc's conversion of shares), cpu.max,
/// cpuset.cpus and cpuset.mems.
fn cpus_v2(rt: &Rt) -> CaseResult {
    with_v2(rt, &["cpu", "cpuset"], |rt| {
        let edit = |c: &mut Value| {
            set(
                c,
                "cpu",
                json!({
                    "shares": 2048, "quota": 200_000, "period": 500_000,
                    "cpus": cpu_list(), "mems": "0"
                }),
            );
        };
        run_resources(
            rt,
            "linux_cgroups_cpus_cgroup_v2",
            opts(false),
            edit,
            no_prepare,
        )
    })
}

fn pids(rt: &Rt, case: &str, relative: bool) -> CaseResult {
    let edit = |c: &mut Value| set(c, "pids", json!({"limit": 42}));
    run_resources(rt, case, opts(relative), edit, no_prepare)
}

/// Throttles on a real device (the weights need a BFQ-weighted one: see
/// `linux_cgroups_blkio_weight`).
fn blkio(rt: &Rt, case: &str, relative: bool) -> CaseResult {
    let (major, minor) = block_device().ok_or_else(|| Stop::Skip("no block device".into()))?;
    let dev = |rate: u64| json!([{"major": major, "minor": minor, "rate": rate}]);
    let edit = |c: &mut Value| {
        set(
            c,
            "blockIO",
            json!({
                "throttleReadBpsDevice": dev(1_048_576),
                "throttleWriteBpsDevice": dev(524_288),
                "throttleReadIOPSDevice": dev(300),
                "throttleWriteIOPSDevice": dev(200),
            }),
        );
    };
    run_resources(rt, case, opts(relative), edit, no_prepare)
}

fn blkio_weight(rt: &Rt) -> CaseResult {
    let edit = |c: &mut Value| set(c, "blockIO", json!({"weight": 300}));
    run_resources(
        rt,
        "linux_cgroups_blkio_weight",
        opts(false),
        edit,
        no_prepare,
    )
}

fn hugetlb(rt: &Rt, case: &str, relative: bool) -> CaseResult {
    let limits: Vec<Value> = page_sizes()
        .iter()
        .map(|size| {
            // Two pages of each size.
            let unit: u64 = if size.ends_with("GB") {
                1 << 30
            } else {
                1 << 20
            };
            let n: u64 = size
                .trim_end_matches(|c: char| c.is_ascii_alphabetic())
                .parse()
                .unwrap_or(2);
            json!({"pageSize": size, "limit": 2 * n * unit})
        })
        .collect();
    let edit = |c: &mut Value| set(c, "hugepageLimits", json!(limits));
    run_resources(rt, case, opts(relative), edit, no_prepare)
}

/// Device nodes the harness makes in the rootfs (outside the container's /dev tmpfs,
/// so that no runtime adds rules for them): type, major, minor, and what the rules
/// below must give the container.
const DEVICE_NODES: &[(&str, u32, u32, &str, bool)] = &[
    // allow b 7:200 r: read allowed (the loop device need not exist: ENXIO) …
    ("b", 7, 200, "r", true),
    // … and write not.
    ("b", 7, 200, "w", false),
    // No rule at all.
    ("b", 7, 201, "r", false),
    // allow c 10:229 rwm (/dev/fuse).
    ("c", 10, 229, "rw", true),
];

/// runtime-tools `linux_cgroups_devices` (its three allow rules, after the default
/// deny-all) plus one more, judged by devices.list on v1 and by opening device nodes
/// from inside (v1 and v2's eBPF program alike).
fn devices(rt: &Rt, case: &str, relative: bool) -> CaseResult {
    let probes: Vec<Value> = DEVICE_NODES
        .iter()
        .map(|(t, ma, mi, access, allowed)| {
            json!({"path": format!("/hoist-dev/{t}-{ma}-{mi}"), "access": access, "allowed": allowed})
        })
        .collect();
    let opts = Opts {
        relative,
        groups: &["resources", "cgroups", "device_access", "default_devices"],
        expect: json!({ "device_probes": probes }),
    };
    let edit = |c: &mut Value| {
        set(
            c,
            "devices",
            json!([
                {"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
                {"allow": true, "type": "b", "major": 8, "minor": 20, "access": "rw"},
                {"allow": true, "type": "b", "major": 10, "minor": 200, "access": "r"},
                {"allow": true, "type": "b", "major": 7, "minor": 200, "access": "r"},
            ]),
        );
    };
    run_resources(rt, case, opts, edit, make_nodes)
}

fn make_nodes(b: &Bundle) -> CaseResult {
    let dir = b.rootfs().join("hoist-dev");
    std::fs::create_dir_all(&dir).map_err(|e| Stop::Fail(format!("mkdir hoist-dev: {e}")))?;
    for (t, ma, mi, _, _) in DEVICE_NODES {
        let path = dir.join(format!("{t}-{ma}-{mi}"));
        if path.exists() {
            continue;
        }
        let kind = if *t == "b" {
            libc::S_IFBLK
        } else {
            libc::S_IFCHR
        };
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|e| Stop::Fail(e.to_string()))?;
        // SAFETY: `c` is a NUL-terminated path alive for the call; mknod takes plain
        // integers otherwise.
        let r = unsafe { libc::mknod(c.as_ptr(), kind | 0o666, libc::makedev(*ma, *mi)) };
        if r != 0 {
            return Err(Stop::Fail(format!(
                "mknod {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            )));
        }
    }
    Ok(())
}

fn network(rt: &Rt, case: &str, relative: bool) -> CaseResult {
    let edit = |c: &mut Value| {
        set(
            c,
            "network",
            json!({"classID": 1_048_577, "priorities": [{"name": "lo", "priority": 2}]}),
        );
    };
    run_resources(rt, case, opts(relative), edit, no_prepare)
}
