//! `features`: the runtime-spec features document, saying only what this build does.

use anyhow::Result;
use serde_json::json;

use crate::spec::validate::NAMESPACES;

pub fn document() -> serde_json::Value {
    let last = crate::process::caps::last_cap();
    let caps: Vec<String> = caps::all()
        .into_iter()
        .filter(|c| u32::from(c.index()) <= last)
        .map(|c| c.to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let namespaces: Vec<&str> = NAMESPACES.iter().map(|(n, _)| *n).collect();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": ["async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "iversion",
            "lazytime", "loud", "mand", "noatime", "nodev", "nodiratime", "noexec", "noiversion", "nolazytime",
            "nomand", "norelatime", "nostrictatime", "nosuid", "nosymfollow", "private", "rbind", "rdev", "rdiratime",
            "relatime", "remount", "rexec", "rnoatime", "rnodev", "rnodiratime", "rnoexec", "rnosuid", "rnosymfollow",
            "ro", "rprivate", "rrelatime", "rro", "rrw", "rshared", "rslave", "rstrictatime", "rsuid", "rsymfollow",
            "runbindable", "rw", "shared", "silent", "slave", "strictatime", "suid", "sync", "tmpcopyup", "unbindable"],
        "linux": {
            "namespaces": namespaces,
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": false},
            "seccomp": {"enabled": false},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {"io.github.hoist.runtime.version": env!("CARGO_PKG_VERSION")}
    })
}

pub fn run() -> Result<i32> {
    println!("{}", serde_json::to_string_pretty(&document())?);
    Ok(0)
}
