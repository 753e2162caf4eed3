//! cgroupsPath on this hybrid host: the container's process sits in `/hoist-test/<id>`
//! of every v1 controller while it runs, and the directories go with `delete`.

use std::fs;

use serde_json::Value;

use crate::support::{cgroup_dirs, expect_ok, Ctr};

/// The v1 controllers a container must be placed in (HOST.md lists them).
const CONTROLLERS: [&str; 9] = [
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "name=systemd",
];

#[test]
fn cgroups_path_is_used_and_removed() {
    let mut c = Ctr::new("cgroup", &["sh", "-c", "cat /proc/self/cgroup; sleep 30"]);
    // No cgroup namespace: /proc/self/cgroup then shows the host-side paths.
    let cfg = c.config();
    let ns = cfg["linux"]["namespaces"]
        .as_array_mut()
        .expect("namespaces");
    ns.retain(|n| n["type"] != "cgroup");
    c.write();
    let cg = c.cgroup();

    c.create_ok();
    let pid = c.pid();
    let pids_dir = format!("/sys/fs/cgroup/pids{cg}");
    let procs = fs::read_to_string(format!("{pids_dir}/cgroup.procs"))
        .unwrap_or_else(|e| panic!("{pids_dir}/cgroup.procs after create: {e}"));
    assert!(
        procs.lines().any(|l| l.trim() == pid.to_string()),
        "init {pid} not in {pids_dir}: {procs:?}"
    );

    c.start_ok();
    let seen = c.wait_stdout("pids:");
    for ctl in CONTROLLERS {
        let line = seen
            .lines()
            .find(|l| {
                l.split(':')
                    .nth(1)
                    .is_some_and(|s| s.split(',').any(|x| x == ctl))
            })
            .unwrap_or_else(|| panic!("no {ctl} line in /proc/self/cgroup:\n{seen}"));
        assert!(
            line.ends_with(&format!(":{cg}")),
            "{ctl} is {line:?}, want {cg}"
        );
    }
    for ctl in ["pids", "memory", "cpu", "devices", "freezer"] {
        let dir = format!("/sys/fs/cgroup/{ctl}{cg}");
        assert!(
            fs::metadata(&dir).is_ok_and(|m| m.is_dir()),
            "{dir} missing while running"
        );
    }
    let st: Value = c.state();
    assert_eq!(st["status"], "running", "{st}");

    expect_ok(&c.rt(&["kill", &c.id, "KILL"]));
    c.wait_status("stopped");
    expect_ok(&c.rt(&["delete", &c.id]));
    c.assert_gone();
    assert!(cgroup_dirs(&cg).is_empty(), "left: {:?}", cgroup_dirs(&cg));
}

/// `--systemd-cgroup` with PID 1 not systemd: `slice:prefix:name` is laid out on
/// cgroupfs as systemd would (`a-b.slice` nests in `a.slice`), and delete removes the scope.
#[test]
fn systemd_cgroup_path_maps_onto_cgroupfs() {
    let mut c = Ctr::new("sdcg", &["sleep", "30"]);
    let slice = format!("hoistsd{}-t.slice", std::process::id());
    let id = c.id.clone();
    c.config()["linux"]["cgroupsPath"] = serde_json::json!(format!("{slice}:hoist:{id}"));
    c.write();
    let parent = format!("hoistsd{}.slice", std::process::id());
    let scope = format!("/{parent}/{slice}/hoist-{id}.scope");
    let remove_parents = || {
        for ctl in [
            "pids", "memory", "cpu", "devices", "freezer", "blkio", "cpuacct", "cpuset", "systemd",
            "unified",
        ] {
            let _ = fs::remove_dir(format!("/sys/fs/cgroup/{ctl}/{parent}/{slice}"));
            let _ = fs::remove_dir(format!("/sys/fs/cgroup/{ctl}/{parent}"));
        }
    };
    let out = c.create_with(&["--systemd-cgroup"]);
    if !out.success() {
        remove_parents();
    }
    expect_ok(&out);
    let pid = c.pid();
    let procs =
        fs::read_to_string(format!("/sys/fs/cgroup/pids{scope}/cgroup.procs")).unwrap_or_default();
    let placed = procs.lines().any(|l| l.trim() == pid.to_string());
    expect_ok(&c.rt(&["delete", "--force", &c.id]));
    let gone = !std::path::Path::new(&format!("/sys/fs/cgroup/pids{scope}")).exists();
    remove_parents();
    assert!(placed, "init {pid} not in {scope}: {procs:?}");
    assert!(gone, "{scope} left after delete");
}
