//! An app's OCI runtime config (`config.json`), written for any runc-compatible stage1:
//! Docker's defaults (capabilities, mounts, masked and read-only paths, the default
//! seccomp profile), the pod's shared namespaces joined by path, the pod's
//! /etc/hosts, /etc/resolv.conf and /etc/hostname, volumes, and the limits.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::args::{PodFlags, Seccomp};
use super::manifest::App;
use super::user::User;
use super::PodError;

/// The default seccomp profile: the same document hoist-runtime's `spec --seccomp`
/// writes, so that every stage1 gets the same filter.
const DEFAULT_SECCOMP: &str = include_str!("../../stage1/src/seccomp/default.json");

/// Docker's default capability set.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Where the pod's shared pieces are, for one app's config.
pub struct PodParts<'a> {
    pub flags: &'a PodFlags,
    pub hostname: &'a str,
    /// `ns/net`, `ns/ipc`, `ns/uts` files; no network entry for `--net host`.
    pub netns: Option<PathBuf>,
    pub ipcns: PathBuf,
    pub utsns: PathBuf,
    /// The pod's `etc/` with hosts, resolv.conf and hostname.
    pub etc: PathBuf,
    /// The pod's shared /dev/shm (a tmpfs).
    pub shm: PathBuf,
    /// Named volumes live here.
    pub volumes: PathBuf,
    /// The app's root filesystem (absolute: the bundle's, or a copy on disk).
    pub rootfs: PathBuf,
    /// cgroupsPath for this app.
    pub cgroups_path: String,
}

fn bind(dest: &str, source: &Path, readonly: bool) -> Value {
    let mut options = vec!["rbind", "rprivate", "nosuid", "nodev"];
    if readonly {
        options.push("ro");
    }
    json!({"destination": dest, "type": "bind", "source": source, "options": options})
}

/// The capabilities after `--caps-retain` and `--caps-remove`.
pub fn capabilities(flags: &PodFlags) -> Vec<String> {
    let mut caps: Vec<String> = if flags.caps_retain.is_empty() {
        DEFAULT_CAPS.iter().map(|c| (*c).to_owned()).collect()
    } else {
        flags.caps_retain.clone()
    };
    caps.retain(|c| !flags.caps_remove.contains(c));
    caps
}

/// The config.json of `app`.
pub fn app_config(app: &App, user: &User, pod: &PodParts<'_>) -> Result<Value, PodError> {
    let flags = pod.flags;
    let caps = capabilities(flags);
    let mut env = app.env.clone();
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.push(format!("HOSTNAME={}", pod.hostname));
    }
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
        bind("/dev/shm", &pod.shm, false),
        bind("/etc/hosts", &pod.etc.join("hosts"), false),
        bind("/etc/resolv.conf", &pod.etc.join("resolv.conf"), false),
        bind("/etc/hostname", &pod.etc.join("hostname"), false),
    ];
    for v in &flags.volumes {
        let source = if v.is_named() {
            pod.volumes.join(&v.source)
        } else {
            PathBuf::from(&v.source)
        };
        mounts.push(bind(&v.target, &source, v.readonly));
    }
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "mount"}),
        json!({"type": "cgroup"}),
        json!({"type": "ipc", "path": pod.ipcns}),
        json!({"type": "uts", "path": pod.utsns}),
    ];
    if let Some(net) = &pod.netns {
        namespaces.push(json!({"type": "network", "path": net}));
    }
    let mut resources = json!({"devices": [{"allow": false, "access": "rwm"}]});
    if let Some(m) = flags.memory {
        resources["memory"] = json!({"limit": m});
    }
    if let Some(c) = flags.cpus {
        let period: u64 = 100_000;
        // Whole microseconds of the period; cpus is checked to be in (0, 1024].
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let quota = (c * period as f64).round() as i64;
        resources["cpu"] = json!({"quota": quota.max(1000), "period": period});
    }
    if let Some(p) = flags.pids_limit {
        resources["pids"] = json!({"limit": p});
    }
    let mut linux = json!({
        "namespaces": namespaces,
        "cgroupsPath": pod.cgroups_path,
        "resources": resources,
        "maskedPaths": ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
            "/sys/devices/virtual/powercap"],
        "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    });
    match &flags.seccomp {
        Seccomp::Unconfined => {}
        Seccomp::Default => {
            linux["seccomp"] =
                serde_json::from_str(DEFAULT_SECCOMP).map_err(|e| PodError::Seccomp {
                    path: "(built in)".into(),
                    reason: e.to_string(),
                })?;
        }
        Seccomp::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| PodError::Seccomp {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            linux["seccomp"] = serde_json::from_str(&text).map_err(|e| PodError::Seccomp {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        }
    }
    Ok(json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids},
            "args": app.args,
            "env": env,
            "cwd": app.working_dir,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": false
        },
        "root": {"path": pod.rootfs, "readonly": flags.readonly_rootfs},
        "hostname": pod.hostname,
        "mounts": mounts,
        "annotations": {"org.opencontainers.image.ref.name": app.image, "io.hoist.app": app.name},
        "linux": linux
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::args::{PodFlags, Volume};

    #[test]
    fn config() {
        let flags = PodFlags {
            volumes: vec![
                Volume {
                    source: "/srv".into(),
                    target: "/data".into(),
                    readonly: true,
                },
                Volume {
                    source: "cache".into(),
                    target: "/cache".into(),
                    readonly: false,
                },
            ],
            memory: Some(64 << 20),
            cpus: Some(0.5),
            caps_remove: vec!["CAP_NET_RAW".into()],
            seccomp: Seccomp::Unconfined,
            ..PodFlags::default()
        };
        let app = App {
            name: "a".into(),
            image: "img".into(),
            digest: "sha256:0".into(),
            args: vec!["sh".into()],
            env: vec!["PATH=/bin".into()],
            user: "0".into(),
            working_dir: "/".into(),
            notify: false,
        };
        let user = User {
            uid: 1,
            gid: 2,
            additional_gids: vec![3],
        };
        let parts = PodParts {
            flags: &flags,
            hostname: "h",
            netns: None,
            ipcns: "/p/ns/ipc".into(),
            utsns: "/p/ns/uts".into(),
            etc: "/p/etc".into(),
            shm: "/p/shm".into(),
            volumes: "/p/volumes".into(),
            rootfs: "/p/rt/apps/a/rootfs".into(),
            cgroups_path: "/hoist/x".into(),
        };
        let c = app_config(&app, &user, &parts).unwrap();
        assert_eq!(c["process"]["user"]["additionalGids"][0], 3);
        assert_eq!(c["process"]["env"][1], "HOSTNAME=h");
        let caps = c["process"]["capabilities"]["bounding"].as_array().unwrap();
        assert!(!caps.iter().any(|v| v == "CAP_NET_RAW"));
        let ns = c["linux"]["namespaces"].as_array().unwrap();
        assert!(!ns.iter().any(|n| n["type"] == "network"));
        assert_eq!(c["linux"]["resources"]["cpu"]["quota"], 50_000);
        assert!(c["linux"].get("seccomp").is_none());
        let m = c["mounts"].as_array().unwrap();
        assert!(m
            .iter()
            .any(|m| m["destination"] == "/cache" && m["source"] == "/p/volumes/cache"));
        assert!(m.iter().any(|m| m["destination"] == "/data"
            && m["options"].as_array().unwrap().iter().any(|o| o == "ro")));
    }

    #[test]
    fn default_seccomp_parses() {
        let v: Value = serde_json::from_str(DEFAULT_SECCOMP).unwrap();
        assert!(v["syscalls"].is_array());
    }
}
