//! What a test's containerd needs before it starts: the tools on PATH, the runtime under
//! test, the busybox image as an OCI tar, containerd's config and the runtime wrapper.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common;
use crate::daemon::sh_quote;

/// Plugins the tests never use; leaving them out keeps startup fast and stops the `opt`
/// plugin from creating /opt/containerd on the host.
const DISABLED_PLUGINS: &[&str] = &[
    "io.containerd.grpc.v1.cri",
    "io.containerd.internal.v1.opt",
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.snapshotter.v1.native",
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.internal.v1.tracing",
];

/// Fails the test with a clear message when a tool it drives is missing: a missing
/// containerd is a broken test machine, never a pass.
pub fn require_tools() {
    let hint = "install it with `apt-get install -y --no-install-recommends containerd` \
                (the Makefile does)";
    for (tool, hint) in [
        ("containerd", hint),
        ("ctr", hint),
        ("containerd-shim-runc-v2", hint),
        ("script", "it comes with util-linux"),
    ] {
        assert!(in_path(tool), "`{tool}` not found in PATH: {hint}");
    }
}

fn in_path(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|d| {
        fs::metadata(d.join(tool)).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// `$HOIST_CONTAINERD_RUNTIME` if set (e.g. /usr/sbin/runc), else hoist-runtime.
pub fn runtime_under_test() -> PathBuf {
    let p = std::env::var_os("HOIST_CONTAINERD_RUNTIME")
        .map(PathBuf::from)
        .unwrap_or_else(common::runtime_bin);
    // The shim runs the wrapper from the bundle dir: a relative path would not resolve.
    let p = if p.is_absolute() {
        p
    } else {
        std::env::current_dir().expect("current dir").join(p)
    };
    assert!(
        p.is_file(),
        "runtime under test {} does not exist",
        p.display()
    );
    p
}

/// The busybox image as a tar of an OCI layout, what `ctr images import` takes: the
/// recipe's `oci.tar`, or a tar of its `oci/` layout made in `scratch`.
pub fn busybox_oci_tar(scratch: &Path) -> PathBuf {
    let image = common::busybox_dir();
    let tar = image.join("oci.tar");
    if tar.is_file() {
        return tar;
    }
    let layout = image.join("oci");
    assert!(
        layout.join("index.json").is_file(),
        "no OCI layout at {} (nor {}): run `make image`",
        layout.display(),
        tar.display()
    );
    let made = scratch.join("busybox-oci.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&layout)
        .arg("-cf")
        .arg(&made)
        .arg(".")
        .status()
        .expect("run tar");
    assert!(st.success(), "tar {}: {st}", layout.display());
    made
}

pub fn config_toml(dir: &Path) -> String {
    let plugins: Vec<String> = DISABLED_PLUGINS
        .iter()
        .map(|p| format!("\"{p}\""))
        .collect();
    format!(
        "version = 2\n\
         root = \"{d}/root\"\n\
         state = \"{d}/state\"\n\
         disabled_plugins = [{plugins}]\n\
         [grpc]\n  address = \"{d}/containerd.sock\"\n",
        d = dir.display(),
        plugins = plugins.join(", ")
    )
}

/// A shell script that appends its arguments to `log` and execs `runtime` with them, so
/// the runtime sees exactly the command line the shim built.
pub fn write_wrapper(path: &Path, log: &Path, runtime: &Path) {
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$*\" >> {}\nexec {} \"$@\"\n",
        sh_quote(log.as_os_str()),
        sh_quote(runtime.as_os_str())
    );
    fs::write(path, script).expect("write runtime wrapper");
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod runtime wrapper");
}
