//! The container's file system and kernel knobs, checked from inside: a read-only
//! root, masked and read-only paths, sysctls, bind mounts rw and ro.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use crate::common::scratch;
use crate::support::{lines, Ctr};

#[test]
fn readonly_root() {
    let mut c = Ctr::new(
        "roroot",
        &[
            "sh",
            "-c",
            "touch /x 2>/dev/null; echo root=$?; touch /dev/shm/y; echo shm=$?",
        ],
    );
    c.config()["root"]["readonly"] = json!(true);
    c.write();
    assert_eq!(lines(&c.run_ok()), ["root=1", "shm=0"]);
    assert!(
        !c.bundle.rootfs().join("x").exists(),
        "wrote into a read-only root"
    );
}

/// /proc/timer_list is readable on the host; masked, it reads empty. /proc/kcore too
/// must give nothing. /proc/sys is read-only even with CAP_SYS_ADMIN (which would
/// otherwise allow the write into the container's own UTS namespace).
#[test]
fn masked_and_readonly_paths() {
    let host = fs::read_to_string("/proc/timer_list").unwrap_or_default();
    assert!(
        !host.is_empty(),
        "skipped: host /proc/timer_list is empty, cannot tell masking"
    );
    let script = "echo timer_list=$(cat /proc/timer_list 2>/dev/null | wc -c); \
                  echo kcore=$(cat /proc/kcore 2>/dev/null | wc -c); \
                  before=$(cat /proc/sys/kernel/domainname); \
                  echo x 2>&1 > /proc/sys/kernel/domainname; \
                  [ \"$before\" = \"$(cat /proc/sys/kernel/domainname)\" ] && echo unchanged";
    let mut c = Ctr::new("masked", &["sh", "-c", script]);
    let caps = ["CAP_SYS_ADMIN", "CAP_KILL"];
    for set in ["bounding", "effective", "permitted"] {
        c.config()["process"]["capabilities"][set] = json!(caps);
    }
    c.config()["process"]["capabilities"]["ambient"] = json!([]);
    c.write();
    let out = c.run_with(&[]);
    let got = lines(&format!("{}{}", out.stdout, out.stderr));
    assert!(got.contains(&"timer_list=0".to_string()), "{out}");
    assert!(got.contains(&"kcore=0".to_string()), "{out}");
    assert!(
        got.iter().any(|l| l.contains("Read-only file system")),
        "write under /proc/sys should fail with EROFS:\n{out}"
    );
    assert!(got.contains(&"unchanged".to_string()), "{out}");
}

#[test]
fn sysctl_in_new_netns() {
    let host_ttl = fs::read_to_string("/proc/sys/net/ipv4/ip_default_ttl").unwrap_or_default();
    let host_fwd = fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default();
    let mut c = Ctr::new(
        "sysctl",
        &[
            "cat",
            "/proc/sys/net/ipv4/ip_forward",
            "/proc/sys/net/ipv4/ip_default_ttl",
        ],
    );
    c.config()["linux"]["sysctl"] =
        json!({"net.ipv4.ip_forward": "1", "net.ipv4.ip_default_ttl": "99"});
    c.write();
    assert_eq!(c.run_ok(), "1\n99\n");
    let now_ttl = fs::read_to_string("/proc/sys/net/ipv4/ip_default_ttl").unwrap_or_default();
    let now_fwd = fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default();
    assert_eq!(
        (now_ttl, now_fwd),
        (host_ttl, host_fwd),
        "sysctl leaked to the host"
    );
}

#[test]
fn bind_mounts_rw_and_ro() {
    let rw = scratch("bind-rw");
    let ro = scratch("bind-ro");
    for d in [&rw, &ro] {
        fs::set_permissions(d.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    fs::write(ro.path().join("in.txt"), "from host\n").expect("write in.txt");
    let script = "cat /mnt/ro/in.txt; echo out > /mnt/rw/out.txt && echo rw-ok; \
                  echo x 2>/dev/null > /mnt/ro/y || echo ro-denied";
    let mut c = Ctr::new("bind", &["sh", "-c", script]);
    let mounts = c.config()["mounts"].as_array_mut().expect("mounts");
    mounts.push(json!({"destination": "/mnt/rw", "type": "bind",
                       "source": rw.path(), "options": ["rbind", "rw"]}));
    mounts.push(json!({"destination": "/mnt/ro", "type": "bind",
                       "source": ro.path(), "options": ["rbind", "ro"]}));
    c.write();
    assert_eq!(lines(&c.run_ok()), ["from host", "rw-ok", "ro-denied"]);
    assert_eq!(
        fs::read_to_string(rw.path().join("out.txt")).unwrap_or_default(),
        "out\n"
    );
    assert!(
        !ro.path().join("y").exists(),
        "wrote through a read-only bind mount"
    );
    assert!(
        !c.bundle.rootfs().join("mnt/rw/out.txt").exists(),
        "the write landed in the rootfs, not the bind mount"
    );
}
