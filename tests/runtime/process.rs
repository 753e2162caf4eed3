//! The container process as config.json describes it, checked from inside: hostname
//! and domainname, cwd, env, user and groups, umask, a user namespace, and the fds it
//! inherits (`--preserve-fds`, everything else closed).

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;

use serde_json::json;

use crate::support::{exec, expect_ok, lines, output_file, rt_cmd, Ctr};

#[test]
fn hostname_and_domainname() {
    let mut c = Ctr::new(
        "uts",
        &["sh", "-c", "hostname; cat /proc/sys/kernel/domainname"],
    );
    c.config()["hostname"] = json!("box-h");
    c.config()["domainname"] = json!("box.example");
    c.write();
    assert_eq!(c.run_ok(), "box-h\nbox.example\n");
    c.assert_gone();
}

#[test]
fn cwd_is_set() {
    let mut c = Ctr::new("cwd", &["pwd"]);
    c.config()["process"]["cwd"] = json!("/tmp");
    c.write();
    assert_eq!(c.run_ok(), "/tmp\n");
}

/// The config's env and nothing of the runtime's own environment.
#[test]
fn env_is_the_config() {
    let mut c = Ctr::new("env", &["env"]);
    let env = [
        "PATH=/usr/bin:/bin",
        "HOIST_VAR=a b=c",
        "EMPTY=",
        "HOME=/home/x",
    ];
    c.config()["process"]["env"] = json!(env);
    c.write();
    let mut args = vec!["run", "--bundle", c.bundle_str()];
    args.push(&c.id);
    let mut cmd = rt_cmd(&c.rt, &args);
    cmd.env("HOIST_TEST_LEAK", "from-the-runtime");
    let out = exec(cmd, Some(output_file(&c.stdout_path())));
    expect_ok(&out);
    let mut got = lines(&out.stdout);
    got.sort();
    let mut want = env.map(str::to_string).to_vec();
    want.sort();
    assert_eq!(got, want, "{out}");
}

/// runc adds HOME from the container's /etc/passwd when the config has
/// none; images and engines count on it.
#[test]
fn env_home_defaults_from_passwd() {
    let mut c = Ctr::new("home", &["sh", "-c", "echo \"HOME=$HOME\""]);
    c.config()["process"]["env"] = json!(["PATH=/usr/bin:/bin"]);
    c.write();
    assert_eq!(c.run_ok(), "HOME=/root\n");
}

#[test]
fn user_uid_gid_and_additional_gids() {
    let mut c = Ctr::new(
        "user",
        &["grep", "-E", "^(Uid|Gid|Groups):", "/proc/self/status"],
    );
    c.config()["process"]["user"] = json!({"uid": 1000, "gid": 1001, "additionalGids": [5, 2000]});
    c.write();
    let out = c.run_ok();
    let fields: Vec<Vec<String>> = out
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    assert_eq!(
        fields,
        [
            vec!["Uid:", "1000", "1000", "1000", "1000"],
            vec!["Gid:", "1001", "1001", "1001", "1001"],
            vec!["Groups:", "5", "2000"],
        ],
        "{out}"
    );
}

#[test]
fn umask_is_set() {
    let mut c = Ctr::new("umask", &["sh", "-c", "umask"]);
    c.config()["process"]["user"]["umask"] = json!(0o027);
    c.write();
    assert_eq!(c.run_ok(), "0027\n");
}

/// The busybox rootfs stays owned by host root, which is nobody inside: reading and
/// executing still work. The bundle dir must be searchable by the mapped root.
#[test]
fn user_namespace_mapping() {
    let mut c = Ctr::new(
        "userns",
        &[
            "sh",
            "-c",
            "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g",
        ],
    );
    fs::set_permissions(c.bundle.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let map = json!([{"containerID": 0, "hostID": 100_000, "size": 65536}]);
    let cfg = c.config();
    cfg["linux"]["namespaces"]
        .as_array_mut()
        .expect("namespaces")
        .push(json!({"type": "user"}));
    cfg["linux"]["uidMappings"] = map.clone();
    cfg["linux"]["gidMappings"] = map;
    c.write();
    let out = c.run_ok();
    let got: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(got, ["0 100000 65536", "0 100000 65536", "0", "0"], "{out}");
    c.assert_gone();
}

/// Runs `c` in the foreground with a scratch file as its fd 3, passing `extra` flags.
/// Returns the container's stdout and what it wrote to fd 3.
fn run_with_fd3(c: &Ctr, extra: &[&str]) -> (String, String) {
    let fd3_path = c.io.path().join("fd3");
    let fd3 = File::create(&fd3_path).expect("create fd3 file");
    let raw = fd3.as_raw_fd();
    let mut args = vec!["run", "--bundle", c.bundle_str()];
    args.extend(extra);
    args.push(&c.id);
    let mut cmd = rt_cmd(&c.rt, &args);
    // SAFETY: the closure runs between fork and exec and only calls dup2 and fcntl,
    // which are async-signal-safe; `raw` stays open in the parent (`fd3` lives until
    // the end of this function) and so in the child.
    unsafe {
        cmd.pre_exec(move || {
            if raw == 3 {
                // dup2 onto itself would keep O_CLOEXEC: clear it instead.
                if libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                    return Err(io::Error::last_os_error());
                }
            } else if libc::dup2(raw, 3) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let stdout = output_file(&c.stdout_path());
    let out = exec(cmd, Some(stdout));
    expect_ok(&out);
    drop(fd3);
    (out.stdout, fs::read_to_string(fd3_path).unwrap_or_default())
}

fn fd_set(ls: &str) -> BTreeSet<u32> {
    ls.split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// Writes to fd 3, then lists the shell's own open fds below 64. `ls /proc/$$/fd`
/// would not do: busybox sh runs `ls` in-process, adding the fd ls reads with; `[`
/// is a builtin that opens nothing.
const FD3_SCRIPT: &str = "echo hi >&3 2>/dev/null; i=0; while [ $i -lt 64 ]; do \
                          { [ -e /proc/$$/fd/$i ] || [ -L /proc/$$/fd/$i ]; } && echo $i; \
                          i=$((i+1)); done";

#[test]
fn preserve_fds_passes_fd_3() {
    let c = Ctr::new("preserve", &["sh", "-c", FD3_SCRIPT]);
    let (stdout, fd3) = run_with_fd3(&c, &["--preserve-fds", "1"]);
    assert_eq!(fd3, "hi\n", "container could not write to fd 3");
    assert_eq!(
        fd_set(&stdout),
        BTreeSet::from([0, 1, 2, 3]),
        "fds: {stdout}"
    );
    c.assert_gone();
}

/// Rule 2 of DESIGN.md: every fd other than 0-2 and the preserved ones is closed.
#[test]
fn without_preserve_fds_fd_3_is_closed() {
    let c = Ctr::new("nopreserve", &["sh", "-c", FD3_SCRIPT]);
    let (stdout, fd3) = run_with_fd3(&c, &[]);
    assert_eq!(fd3, "", "fd 3 leaked into the container");
    assert_eq!(fd_set(&stdout), BTreeSet::from([0, 1, 2]), "fds: {stdout}");
}

/// Signals the runtime's caller ignores (nohup, a shell's `trap ''`) stay ignored
/// across execve; the container process must start with none ignored nor blocked.
#[test]
fn caller_ignored_and_blocked_signals_are_reset() {
    let c = Ctr::new(
        "sigreset",
        &["grep", "-E", "SigIgn|SigBlk", "/proc/self/status"],
    );
    let args = ["run", "--bundle", c.bundle_str(), &c.id];
    let mut cmd = rt_cmd(&c.rt, &args);
    // SAFETY: signal and sigprocmask are async-signal-safe; nothing else runs here.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            libc::signal(libc::SIGUSR1, libc::SIG_IGN);
            libc::signal(40, libc::SIG_IGN);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    let out = exec(cmd, Some(output_file(&c.stdout_path())));
    expect_ok(&out);
    for want in ["SigBlk:\t0000000000000000", "SigIgn:\t0000000000000000"] {
        assert!(out.stdout.contains(want), "want {want:?}:\n{out}");
    }
}
