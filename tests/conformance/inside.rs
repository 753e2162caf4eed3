//! Cases checked from inside the container: each builds a config, runs the runtimetest
//! checker as the container's process with `run`, and passes when every check does.
//! (The namespace ones are in namespaces.rs.)
//! Names follow the opencontainers/runtime-tools validation programs.

use std::path::Path;

use serde_json::{json, Value};

use crate::bundle::{checker_bundle, drop_namespace, only, run_checker, CHECKER};
use crate::harness::{ensure, new_id, CaseResult, Rt, Stop};
use crate::Case;

pub fn cases() -> Vec<Case> {
    vec![
        Case::new("default", default),
        Case::new("process", process),
        Case::new("process_user", process_user),
        Case::new("process_capabilities", process_capabilities),
        Case::new("process_capabilities_ambient", process_capabilities_ambient),
        Case::new("process_capabilities_unknown", process_capabilities_unknown),
        Case::new("process_rlimits", process_rlimits),
        Case::new("process_oom_score_adj", process_oom_score_adj),
        Case::new(
            "process_no_new_privileges_false",
            process_no_new_privileges_false,
        ),
        Case::new("hostname", hostname),
        Case::new("domainname", domainname),
        Case::new("linux_devices", linux_devices),
        Case::new("linux_masked_paths", linux_masked_paths),
        Case::new("linux_readonly_paths", linux_readonly_paths),
        Case::new("linux_sysctl", linux_sysctl),
        Case::new("linux_rootfs_propagation_private", |rt| {
            propagation(rt, "private")
        }),
        Case::new("linux_rootfs_propagation_slave", |rt| {
            propagation(rt, "slave")
        }),
        Case::new("linux_rootfs_propagation_shared", |rt| {
            propagation(rt, "shared")
        }),
        Case::new("linux_rootfs_propagation_unbindable", |rt| {
            propagation(rt, "unbindable")
        }),
        Case::new("mounts", mounts),
        Case::new("root_readonly_true", |rt| root_readonly(rt, true)),
        Case::new("root_readonly_false", |rt| root_readonly(rt, false)),
        Case::new("linux_cgroups_path", linux_cgroups_path).needs(needs_cgroup_memory),
        Case::new("linux_seccomp", linux_seccomp),
    ]
}

fn needs_cgroup_memory() -> Option<String> {
    let v1 = Path::new("/sys/fs/cgroup/memory/tasks").exists();
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    (!v1 && !v2).then(|| "no cgroup v1 memory hierarchy nor cgroup v2 at /sys/fs/cgroup".into())
}

/// The checker on a config edited by `edit`, running only `groups`.
pub fn check(rt: &Rt, case: &str, groups: &[&str], edit: impl FnOnce(&mut Value)) -> CaseResult {
    let b = checker_bundle(case, edit, only(groups))?;
    run_checker(rt, &b, case)
}

/// runtime-tools `default`: the base config, every check.
fn default(rt: &Rt) -> CaseResult {
    let b = checker_bundle("default", |_| {}, json!({}))?;
    run_checker(rt, &b, "default")
}

fn process(rt: &Rt) -> CaseResult {
    check(rt, "process", &["process"], |c| {
        c["process"]["args"] = json!([CHECKER, "two words", "ünïcödé", "--flag=x", "", "$HOME"]);
        c["process"]["cwd"] = json!("/tmp");
        let env = c["process"]["env"].as_array_mut().expect("base env");
        env.extend([
            json!("HOIST_A=1"),
            json!("HOIST_EMPTY="),
            json!("HOIST_EQ=a=b c"),
        ]);
    })
}

fn process_user(rt: &Rt) -> CaseResult {
    check(
        rt,
        "process_user",
        &["process", "user", "caps", "nnp"],
        |c| {
            c["process"]["user"] =
                json!({"uid": 1000, "gid": 1000, "additionalGids": [5, 100], "umask": 0o077});
        },
    )
}

fn process_capabilities(rt: &Rt) -> CaseResult {
    check(rt, "process_capabilities", &["caps", "nnp"], |c| {
        c["process"]["noNewPrivileges"] = json!(false);
        c["process"]["capabilities"] = json!({
            "bounding": ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT"],
            "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_CHOWN", "CAP_KILL"],
            "inheritable": ["CAP_KILL"],
            "ambient": ["CAP_KILL"]
        });
    })
}

/// A non-root process keeps, across exec, only its ambient capabilities: this is what
/// tells whether the runtime raised them (and set inheritable first).
fn process_capabilities_ambient(rt: &Rt) -> CaseResult {
    check(rt, "process_capabilities_ambient", &["caps", "user"], |c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["capabilities"] = json!({
            "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_NET_BIND_SERVICE", "CAP_KILL"]
        });
    })
}

/// runtime-tools' `process_capabilities_fail` expects an unknown capability to make
/// create fail; runtime-spec 1.1 changed that: "Any value which cannot be mapped to a
/// relevant kernel interface, or cannot be granted otherwise MUST be logged as a
/// warning by the runtime. Runtimes SHOULD NOT fail if the container configuration
/// requests capabilities that cannot be granted". So the container must run, with
/// the known capabilities applied.
fn process_capabilities_unknown(rt: &Rt) -> CaseResult {
    check(rt, "process_capabilities_unknown", &["caps"], |c| {
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set] = json!(["CAP_KILL", "CAP_HOIST_UNKNOWN"]);
        }
        c["process"]["capabilities"]["ambient"] = json!([]);
    })
}

fn process_rlimits(rt: &Rt) -> CaseResult {
    check(rt, "process_rlimits", &["rlimits"], |c| {
        // All at or under the host's hard limits: raising a hard limit needs
        // CAP_SYS_RESOURCE, which root here lacks (HOST.md).
        c["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "soft": 1000, "hard": 2000},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 4096},
            {"type": "RLIMIT_MSGQUEUE", "soft": 4096, "hard": 8192},
        ]);
    })
}

fn process_oom_score_adj(rt: &Rt) -> CaseResult {
    // Positive: lowering oom_score_adj below its current value needs CAP_SYS_RESOURCE.
    check(rt, "process_oom_score_adj", &["oom"], |c| {
        c["process"]["oomScoreAdj"] = json!(500)
    })
}

fn process_no_new_privileges_false(rt: &Rt) -> CaseResult {
    check(
        rt,
        "process_no_new_privileges_false",
        &["nnp", "caps"],
        |c| {
            c["process"]["noNewPrivileges"] = json!(false);
        },
    )
}

fn hostname(rt: &Rt) -> CaseResult {
    check(rt, "hostname", &["uts", "namespaces"], |c| {
        c["hostname"] = json!("hoist-conformance")
    })
}

/// runtime-spec `domainname` (1.0.2+). Known runc failure: runc 1.1.5 parses the field
/// but never sets it (the container keeps "(none)"); runc 1.2 applies it.
fn domainname(rt: &Rt) -> CaseResult {
    check(rt, "domainname", &["uts", "namespaces"], |c| {
        c["hostname"] = json!("box");
        c["domainname"] = json!("hoist.example");
    })
}

fn linux_devices(rt: &Rt) -> CaseResult {
    check(rt, "linux_devices", &["devices", "default_devices"], |c| {
        c["linux"]["devices"] = json!([
            {"path": "/dev/hoist-null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640, "uid": 1, "gid": 2},
            {"path": "/dev/hoist-zero", "type": "u", "major": 1, "minor": 5, "fileMode": 0o666},
            {"path": "/dev/hoist-loop", "type": "b", "major": 7, "minor": 200, "fileMode": 0o600, "uid": 0, "gid": 6},
            {"path": "/dev/hoist-fifo", "type": "p", "fileMode": 0o620},
            {"path": "/dev/nested/dir/hoist-full", "type": "c", "major": 1, "minor": 7, "fileMode": 0o604},
        ]);
    })
}

pub fn write(path: &Path, text: &str) -> CaseResult {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Stop::Fail(format!("mkdir {}: {e}", dir.display())))?;
    }
    std::fs::write(path, text).map_err(|e| Stop::Fail(format!("write {}: {e}", path.display())))
}

fn linux_masked_paths(rt: &Rt) -> CaseResult {
    let b = checker_bundle(
        "linux_masked_paths",
        |c| {
            let list = c["linux"]["maskedPaths"]
                .as_array_mut()
                .expect("base maskedPaths");
            list.extend([
                json!("/masked-dir"),
                json!("/masked-file"),
                json!("/masked-missing"),
                json!("/tmp/sub/file"),
            ]);
        },
        only(&["masked"]),
    )?;
    write(&b.rootfs().join("masked-dir/secret"), "secret")?;
    write(&b.rootfs().join("masked-file"), "secret")?;
    write(&b.rootfs().join("tmp/sub/file"), "secret")?;
    run_checker(rt, &b, "linux_masked_paths")
}

fn linux_readonly_paths(rt: &Rt) -> CaseResult {
    let b = checker_bundle(
        "linux_readonly_paths",
        |c| {
            let list = c["linux"]["readonlyPaths"]
                .as_array_mut()
                .expect("base readonlyPaths");
            list.extend([
                json!("/ro-dir"),
                json!("/ro-file"),
                json!("/ro-missing"),
                json!("/tmp/ro-sub"),
            ]);
        },
        only(&["readonly"]),
    )?;
    write(&b.rootfs().join("ro-dir/file"), "data")?;
    write(&b.rootfs().join("ro-file"), "data")?;
    write(&b.rootfs().join("tmp/ro-sub/file"), "data")?;
    run_checker(rt, &b, "linux_readonly_paths")
}

fn linux_sysctl(rt: &Rt) -> CaseResult {
    check(rt, "linux_sysctl", &["sysctl"], |c| {
        c["linux"]["sysctl"] = json!({
            "net.ipv4.ip_forward": "1",
            "net.ipv4.ip_local_port_range": "1025 61000",
            "kernel.msgmax": "16384",
            "kernel.domainname": "sysctl.example",
        });
    })
}

/// runtime-tools `linux_rootfs_propagation`, one trial per value, read from the
/// optional fields of / in mountinfo. Known runc failures: with `shared`, runc 1.1.5
/// makes the host's / shared but binds the rootfs from a parent it just made private
/// and never marks the new / shared after pivot_root, so / has no `shared:` tag; with
/// `unbindable`, it makes / unbindable before bind-mounting the rootfs from it, which
/// the kernel refuses (EINVAL, "flags: 0x5000").
fn propagation(rt: &Rt, mode: &str) -> CaseResult {
    let case = format!("linux_rootfs_propagation_{mode}");
    check(rt, &case, &["propagation", "mounts"], |c| {
        c["linux"]["rootfsPropagation"] = json!(mode)
    })
}

/// runtime-tools `mounts`: extra mounts in an order that matters (one under another),
/// at destinations that do not exist yet, binds of host directories.
fn mounts(rt: &Rt) -> CaseResult {
    let src = crate::common::scratch("mount-src");
    write(&src.path().join("hello"), "hello")?;
    let src_path = src.path().to_string_lossy().into_owned();
    let b = checker_bundle(
        "mounts",
        |c| {
            let list = c["mounts"].as_array_mut().expect("base mounts");
            list.extend([
                json!({"destination": "/mnt/a", "type": "tmpfs", "source": "tmpfs",
                       "options": ["nosuid", "nodev", "noexec", "mode=700", "size=1m"]}),
                json!({"destination": "/mnt/a/b/c", "type": "tmpfs", "source": "inner",
                       "options": ["ro", "mode=755", "size=512k", "noatime"]}),
                json!({"destination": "/mnt/bind-ro", "type": "bind", "source": src_path,
                       "options": ["rbind", "ro", "nosuid"]}),
                json!({"destination": "/mnt/bind-rw/", "source": src_path, "options": ["bind", "rprivate"]}),
                json!({"destination": "/mnt/mq", "type": "mqueue", "source": "mqueue", "options": ["nodev"]}),
            ]);
        },
        only(&["mounts"]),
    )?;
    run_checker(rt, &b, "mounts")
}

fn root_readonly(rt: &Rt, readonly: bool) -> CaseResult {
    let case = format!("root_readonly_{readonly}");
    check(rt, &case, &["root"], |c| {
        c["root"]["readonly"] = json!(readonly)
    })
}

/// The cgroup directories a v1 or v2 host would give `path`.
fn cgroup_dirs(path: &str) -> Vec<String> {
    let rel = path.trim_start_matches('/');
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        vec![format!("/sys/fs/cgroup/{rel}")]
    } else {
        ["memory", "pids", "cpu", "devices", "freezer", "blkio"]
            .iter()
            .map(|c| format!("/sys/fs/cgroup/{c}/{rel}"))
            .filter(|d| Path::new(d).parent().is_some_and(Path::exists))
            .collect()
    }
}

/// runtime-tools `linux_cgroups_*` reduced to joining `cgroupsPath`: the process is in
/// that cgroup in every hierarchy, and the cgroup is gone after the container.
fn linux_cgroups_path(rt: &Rt) -> CaseResult {
    let path = format!("/hoist-conformance-{}", new_id("cg"));
    let b = checker_bundle(
        "linux_cgroups_path",
        |c| {
            // Without a cgroup namespace, /proc/self/cgroup shows the full path.
            drop_namespace(c, "cgroup");
            c["linux"]["cgroupsPath"] = json!(path);
        },
        only(&["cgroups"]),
    )?;
    let r = run_checker(rt, &b, "linux_cgroups_path");
    let left: Vec<String> = cgroup_dirs(&path)
        .into_iter()
        .filter(|d| Path::new(d).exists())
        .collect();
    for d in &left {
        let _ = std::fs::remove_dir(d);
    }
    r?;
    ensure(left.is_empty(), || {
        format!("cgroups left after the container: {left:?}")
    })
}

/// runtime-tools `linux_seccomp`, sharper: an errno rule, an errno rule with the
/// default errnoRet and an argument condition (which must leave other argument values
/// alone), probed with harmless syscalls by the checker.
fn linux_seccomp(rt: &Rt) -> CaseResult {
    check(rt, "linux_seccomp", &["seccomp", "nnp"], |c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18},
                {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
                {"names": ["getpgid"], "action": "SCMP_ACT_ALLOW"},
            ]
        });
    })
}
