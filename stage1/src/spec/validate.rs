//! Checks a config before anything is created, so that bad input fails with one clear
//! line and leaves nothing behind (DESIGN.md rule 5).

use super::{Spec, SpecError};

/// Namespace kinds of runtime-spec 1.2, with their clone flags.
pub const NAMESPACES: &[(&str, i32)] = &[
    ("pid", libc::CLONE_NEWPID),
    ("network", libc::CLONE_NEWNET),
    ("mount", libc::CLONE_NEWNS),
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("user", libc::CLONE_NEWUSER),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("time", libc::CLONE_NEWTIME),
];

/// The rlimit names runtime-spec allows, with their resource numbers.
pub const RLIMITS: &[(&str, u32)] = &[
    ("RLIMIT_AS", libc::RLIMIT_AS),
    ("RLIMIT_CORE", libc::RLIMIT_CORE),
    ("RLIMIT_CPU", libc::RLIMIT_CPU),
    ("RLIMIT_DATA", libc::RLIMIT_DATA),
    ("RLIMIT_FSIZE", libc::RLIMIT_FSIZE),
    ("RLIMIT_LOCKS", libc::RLIMIT_LOCKS),
    ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK),
    ("RLIMIT_MSGQUEUE", libc::RLIMIT_MSGQUEUE),
    ("RLIMIT_NICE", libc::RLIMIT_NICE),
    ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE),
    ("RLIMIT_NPROC", libc::RLIMIT_NPROC),
    ("RLIMIT_RSS", libc::RLIMIT_RSS),
    ("RLIMIT_RTPRIO", libc::RLIMIT_RTPRIO),
    ("RLIMIT_RTTIME", libc::RLIMIT_RTTIME),
    ("RLIMIT_SIGPENDING", libc::RLIMIT_SIGPENDING),
    ("RLIMIT_STACK", libc::RLIMIT_STACK),
];

pub fn namespace_flag(kind: &str) -> Option<i32> {
    NAMESPACES.iter().find(|(k, _)| *k == kind).map(|(_, f)| *f)
}

pub fn rlimit_resource(kind: &str) -> Option<u32> {
    RLIMITS.iter().find(|(k, _)| *k == kind).map(|(_, r)| *r)
}

fn invalid(msg: impl Into<String>) -> SpecError {
    SpecError::Invalid(msg.into())
}

/// Validates what create needs; `exec` validates its own process separately.
pub fn validate(spec: &Spec) -> Result<(), SpecError> {
    if !valid_version(&spec.oci_version) {
        return Err(invalid(format!(
            "ociVersion `{}` is not a 1.x semantic version",
            spec.oci_version
        )));
    }
    let process = spec
        .process
        .as_ref()
        .ok_or_else(|| invalid("process is missing"))?;
    validate_process(process)?;
    if spec
        .root
        .as_ref()
        .is_none_or(|r| r.path.as_os_str().is_empty())
    {
        return Err(invalid("root.path is missing"));
    }
    let linux = spec.linux();
    let mut seen = Vec::new();
    for ns in &linux.namespaces {
        if namespace_flag(&ns.kind).is_none() {
            return Err(invalid(format!("unknown namespace type `{}`", ns.kind)));
        }
        if seen.contains(&ns.kind.as_str()) {
            return Err(invalid(format!("namespace `{}` listed twice", ns.kind)));
        }
        seen.push(ns.kind.as_str());
        if let Some(p) = &ns.path {
            if !p.is_absolute() {
                return Err(invalid(format!(
                    "namespace path `{}` is not absolute",
                    p.display()
                )));
            }
        }
    }
    let has = |k: &str| seen.contains(&k);
    let new_user = spec.namespace("user").is_some_and(|n| n.path.is_none());
    if new_user && (linux.uid_mappings.is_empty() || linux.gid_mappings.is_empty()) {
        return Err(invalid(
            "a new user namespace needs uidMappings and gidMappings",
        ));
    }
    if !has("user") && (!linux.uid_mappings.is_empty() || !linux.gid_mappings.is_empty()) {
        return Err(invalid("uidMappings and gidMappings need a user namespace"));
    }
    if spec.hostname.as_deref().is_some_and(|h| !h.is_empty()) && !has("uts") {
        return Err(invalid(
            "unable to set hostname without a private UTS namespace",
        ));
    }
    if spec.domainname.as_deref().is_some_and(|h| !h.is_empty()) && !has("uts") {
        return Err(invalid(
            "unable to set domainname without a private UTS namespace",
        ));
    }
    if !linux.time_offsets.is_empty() && spec.namespace("time").is_none_or(|n| n.path.is_some()) {
        return Err(invalid("timeOffsets need a new time namespace"));
    }
    for key in linux.sysctl.keys() {
        validate_sysctl(key, &has)?;
    }
    for m in &spec.mounts {
        if m.destination.as_os_str().is_empty() {
            return Err(invalid("a mount has no destination"));
        }
    }
    for d in &linux.devices {
        if !d.path.is_absolute() || !d.path.starts_with("/dev") {
            return Err(invalid(format!(
                "device path `{}` is not under /dev",
                d.path.display()
            )));
        }
        if !matches!(d.kind.as_str(), "c" | "u" | "b" | "p") {
            return Err(invalid(format!(
                "device `{}` has unknown type `{}`",
                d.path.display(),
                d.kind
            )));
        }
    }
    if let Some(p) = &linux.rootfs_propagation {
        if crate::rootfs::propagation_flag(p).is_none() {
            return Err(invalid(format!("unknown rootfsPropagation `{p}`")));
        }
    }
    Ok(())
}

pub fn validate_process(process: &super::Process) -> Result<(), SpecError> {
    if process.args.is_empty() || process.args[0].is_empty() {
        return Err(invalid("process.args must not be empty"));
    }
    if !process.cwd.starts_with('/') {
        return Err(invalid(format!(
            "process.cwd `{}` is not an absolute path",
            process.cwd
        )));
    }
    for r in &process.rlimits {
        if rlimit_resource(&r.kind).is_none() {
            return Err(invalid(format!("unknown rlimit type `{}`", r.kind)));
        }
        if r.soft > r.hard {
            return Err(invalid(format!(
                "rlimit {}: soft {} above hard {}",
                r.kind, r.soft, r.hard
            )));
        }
    }
    if let Some(adj) = process.oom_score_adj {
        if !(-1000..=1000).contains(&adj) {
            return Err(invalid(format!("oomScoreAdj {adj} is outside -1000..1000")));
        }
    }
    Ok(())
}

/// `1.MINOR.PATCH` with an optional `-suffix` (runtime-spec's versions are SemVer 2).
fn valid_version(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts[0] == "1"
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// runc's rule: only namespaced sysctls, and only when the namespace is the container's.
fn validate_sysctl(key: &str, has: &dyn Fn(&str) -> bool) -> Result<(), SpecError> {
    let ipc = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let need = if ipc.contains(&key) || key.starts_with("fs.mqueue.") {
        "ipc"
    } else if key.starts_with("net.") {
        "network"
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        "uts"
    } else {
        return Err(invalid(format!(
            "sysctl `{key}` is not in a separate kernel namespace"
        )));
    };
    if key.contains("..") || key.contains('/') {
        return Err(invalid(format!("sysctl `{key}` is not a valid name")));
    }
    if !has(need) {
        return Err(invalid(format!(
            "sysctl `{key}` needs a private {need} namespace"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> Spec {
        serde_json::from_value(v).unwrap()
    }

    fn base() -> serde_json::Value {
        json!({"ociVersion": "1.0.2-dev", "process": {"args": ["sh"], "cwd": "/"}, "root": {"path": "rootfs"},
               "linux": {"namespaces": [{"type": "uts"}, {"type": "ipc"}]}})
    }

    #[test]
    fn versions() {
        for ok in ["1.0.0", "1.2.0", "1.0.2-dev", "1.1.0-rc.1"] {
            assert!(valid_version(ok), "{ok}");
        }
        for bad in ["", "invalid", "2.0.0", "1.0", "1.x.0"] {
            assert!(!valid_version(bad), "{bad}");
        }
    }

    #[test]
    fn accepts_minimal() {
        validate(&spec(base())).unwrap();
    }

    #[test]
    fn rejects_empty_args_and_relative_cwd() {
        let mut v = base();
        v["process"]["args"] = json!([]);
        assert!(validate(&spec(v)).unwrap_err().to_string().contains("args"));
        let mut v = base();
        v["process"]["cwd"] = json!("tmp");
        assert!(validate(&spec(v)).unwrap_err().to_string().contains("cwd"));
    }

    #[test]
    fn rejects_unknown_and_duplicate_namespaces() {
        let mut v = base();
        v["linux"]["namespaces"] = json!([{"type": "bogus"}]);
        assert!(validate(&spec(v)).is_err());
        let mut v = base();
        v["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "pid"}]);
        assert!(validate(&spec(v)).is_err());
    }

    #[test]
    fn hostname_needs_uts() {
        let mut v = base();
        v["hostname"] = json!("h");
        validate(&spec(v.clone())).unwrap();
        v["linux"]["namespaces"] = json!([]);
        assert!(validate(&spec(v)).is_err());
    }

    #[test]
    fn sysctl_rules() {
        let mut v = base();
        v["linux"]["sysctl"] = json!({"kernel.shmmax": "1"});
        validate(&spec(v.clone())).unwrap();
        v["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
        assert!(validate(&spec(v.clone())).is_err(), "no net ns");
        v["linux"]["sysctl"] = json!({"vm.swappiness": "1"});
        assert!(validate(&spec(v)).is_err(), "not namespaced");
    }

    #[test]
    fn rlimits_and_oom() {
        let mut v = base();
        v["process"]["rlimits"] = json!([{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]);
        assert!(validate(&spec(v)).is_err());
        let mut v = base();
        v["process"]["oomScoreAdj"] = json!(2000);
        assert!(validate(&spec(v)).is_err());
    }

    #[test]
    fn user_namespace_needs_mappings() {
        let mut v = base();
        v["linux"]["namespaces"] = json!([{"type": "user"}]);
        assert!(validate(&spec(v.clone())).is_err());
        v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
        v["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
        validate(&spec(v)).unwrap();
    }
}
