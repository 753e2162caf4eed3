//! linux.seccomp end to end, checked from inside the container: hoist's default profile
//! (`hoist-runtime spec --seccomp`), custom profiles (errnoRet, argument rules with
//! every operator, unknown syscall names), bad profiles refused at create, both
//! noNewPrivileges settings, the compiled-program cache under `<root>/.seccomp-cache`,
//! SCMP_ACT_NOTIFY with the test as the seccomp agent at listenerPath, and `exec`'d
//! processes, which must be filtered like the init.
//!
//! The runtime is `$HOIST_RUNTIME` (`/usr/sbin/runc` for comparison; the cache tests
//! are hoist's own), else the hoist-runtime cargo built.

mod common;
#[path = "security/fdpass.rs"]
mod fdpass;
#[path = "security/notify.rs"]
mod notify;
#[path = "security/support.rs"]
mod support;

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use support::{expect_error, expect_ok, read, Ctr, SETTLE};

const ARCHES: [&str; 3] = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"];

/// A profile that allows everything but `rules`.
fn allow_all_but(rules: Value) -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ARCHES, "syscalls": rules})
}

/// mkdir (and mkdirat, for a libc that uses it) fail with ENOSYS.
fn mkdir_enosys() -> Value {
    allow_all_but(json!([
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
    ]))
}

/// The config `spec --seccomp` writes (hoist's own, also when `$HOIST_RUNTIME` is
/// runc, which has no such flag).
fn spec_seccomp_config() -> Value {
    let dir = common::scratch("spec");
    let mut tools = vec![common::runtime_bin()];
    tools.extend(support::cargo_hoist_runtime());
    for tool in tools {
        let st = std::process::Command::new(&tool)
            .args(["spec", "--seccomp", "--bundle"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run spec");
        if st.success() {
            let text = read(dir.path().join("config.json"));
            return serde_json::from_str(&text).expect("spec writes JSON");
        }
    }
    panic!("no runtime here writes `spec --seccomp`");
}

/// A container whose config is `spec --seccomp`'s, with `args` and no terminal.
fn default_profile_ctr(name: &str, args: &[&str]) -> Ctr {
    let mut c = Ctr::new(name, args);
    let cgroup = c.config()["linux"]["cgroupsPath"].clone();
    let mut cfg = spec_seccomp_config();
    assert!(
        cfg["linux"]["seccomp"]["syscalls"]
            .as_array()
            .is_some_and(|s| !s.is_empty()),
        "spec --seccomp wrote no profile: {}",
        cfg["linux"]["seccomp"]
    );
    cfg["process"]["args"] = json!(args);
    cfg["process"]["terminal"] = json!(false);
    cfg["linux"]["cgroupsPath"] = cgroup;
    *c.config() = cfg;
    c.write();
    c
}

/// Adds `cap` to every capability set of the container's process.
fn add_cap(c: &mut Ctr, cap: &str) {
    for set in ["bounding", "effective", "permitted"] {
        c.config()["process"]["capabilities"][set]
            .as_array_mut()
            .expect("capability set")
            .push(json!(cap));
    }
}

fn status_field(out: &str, field: &str) -> Option<String> {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
}

#[test]
fn default_profile_runs_ordinary_programs() {
    let c = default_profile_ctr(
        "sc-ordinary",
        &[
            "sh",
            "-c",
            "ls -l / >/dev/null && cat /etc/passwd >/dev/null && sleep 0.1 && ps >/dev/null \
             && echo x | grep -q x && date >/dev/null && echo ordinary-ok; \
             grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status",
        ],
    );
    let out = c.run_ok();
    assert!(
        out.contains("ordinary-ok"),
        "{out}\n{}",
        c.container_stderr()
    );
    assert_eq!(status_field(&out, "Seccomp").as_deref(), Some("2"), "{out}");
}

/// mount and unshare are the first steps out of a container; the default profile
/// denies them with EPERM even when the config hands out CAP_SYS_ADMIN. The same
/// config without the profile mounts and unshares, so the denial is the filter's.
#[test]
fn default_profile_denies_mount_and_unshare_even_with_cap_sys_admin() {
    let script = "unshare -n true; echo unshare=$?; mount -t tmpfs x /tmp; echo mount=$?";
    let mut c = default_profile_ctr("sc-deny", &["sh", "-c", script]);
    add_cap(&mut c, "CAP_SYS_ADMIN");
    c.write();
    let out = c.run_ok();
    let err = c.container_stderr();
    assert!(
        out.contains("unshare=1") && out.contains("mount=1"),
        "{out}\n{err}"
    );
    assert!(
        err.contains("unshare(0x40000000): Operation not permitted"),
        "unshare should fail with EPERM:\n{err}"
    );
    // busybox mount words EPERM as "permission denied".
    assert!(err.contains("mount: permission denied"), "{err}");

    let mut control = default_profile_ctr("sc-deny-control", &["sh", "-c", script]);
    add_cap(&mut control, "CAP_SYS_ADMIN");
    control.config()["linux"]
        .as_object_mut()
        .expect("linux")
        .remove("seccomp");
    control.write();
    let out = control.run_ok();
    assert!(
        out.contains("unshare=0") && out.contains("mount=0"),
        "without seccomp, CAP_SYS_ADMIN should mount and unshare:\n{out}\n{}",
        control.container_stderr()
    );
}

#[test]
fn default_profile_filters_exec_processes() {
    let c = default_profile_ctr("sc-exec", &["sleep", "30"]);
    c.create_ok();
    c.start_ok();
    let out = c.exec(&[
        "sh",
        "-c",
        "grep '^Seccomp:' /proc/self/status; unshare -n true; echo unshare=$?",
    ]);
    expect_ok(&out);
    assert_eq!(
        status_field(&out.stdout, "Seccomp").as_deref(),
        Some("2"),
        "{out}"
    );
    assert!(out.stdout.contains("unshare=1"), "{out}");
    assert!(out.stderr.contains("Operation not permitted"), "{out}");
}

#[test]
fn errno_ret_38_makes_mkdir_not_implemented() {
    let mut c = Ctr::new("sc-enosys", &["sh", "-c", "mkdir /tmp/made; echo rc=$?"]);
    c.config()["linux"]["seccomp"] = mkdir_enosys();
    c.write();
    let out = c.run_ok();
    assert!(out.contains("rc=1"), "{out}");
    let err = c.container_stderr();
    assert!(err.contains("Function not implemented"), "{err}");
    assert!(!c.rootfs().join("tmp/made").exists());
}

/// Runs a container whose profile makes `kill(pid, sig)` fail with EPERM when the
/// signal (arg 1) matches `arg`, and returns which of the harmless signals 0 (probe),
/// 17, 18, 23, 28 the shell could send itself.
fn kill_rule_denies(name: &str, arg: Value) -> Vec<u32> {
    let mut c = Ctr::new(
        name,
        &[
            "sh",
            "-c",
            "for s in 0 17 18 23 28; do kill -$s $$ 2>/dev/null; echo \"sig$s=$?\"; done",
        ],
    );
    c.config()["linux"]["seccomp"] = allow_all_but(json!([
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "args": [arg]}
    ]));
    c.write();
    let out = c.run_ok();
    [0, 17, 18, 23, 28]
        .into_iter()
        .filter(|s| {
            let line = format!("sig{s}=");
            let v = out
                .lines()
                .find_map(|l| l.strip_prefix(&line))
                .unwrap_or_else(|| panic!("no {line} in {out}"));
            v != "0"
        })
        .collect()
}

/// Each operator on argument 1 of kill, against the signals 0, 17, 18, 23 and 28.
#[test]
fn arg_rules_every_operator() {
    let cases: [(&str, u64, u64, &[u32]); 7] = [
        ("SCMP_CMP_EQ", 18, 0, &[18]),
        ("SCMP_CMP_NE", 18, 0, &[0, 17, 23, 28]),
        ("SCMP_CMP_LT", 18, 0, &[0, 17]),
        ("SCMP_CMP_LE", 18, 0, &[0, 17, 18]),
        ("SCMP_CMP_GE", 18, 0, &[18, 23, 28]),
        ("SCMP_CMP_GT", 18, 0, &[23, 28]),
        // (sig & 3) == 0: 0 and 28 (0x1c), not 17, 18, 23.
        ("SCMP_CMP_MASKED_EQ", 3, 0, &[0, 28]),
    ];
    for (op, value, value_two, want) in cases {
        let arg = json!({"index": 1, "value": value, "valueTwo": value_two, "op": op});
        let got = kill_rule_denies("sc-op", arg);
        assert_eq!(got, want, "{op} {value}/{value_two}: denied signals");
    }
}

/// personality(PER_LINUX32) is denied, personality(PER_LINUX) is not.
#[test]
fn arg_rule_matches_only_its_value() {
    let mut c = Ctr::new(
        "sc-persona",
        &[
            "sh",
            "-c",
            "linux32 true; echo l32=$?; linux64 true; echo l64=$?",
        ],
    );
    c.config()["linux"]["seccomp"] = allow_all_but(json!([
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}
    ]));
    c.write();
    let out = c.run_ok();
    assert!(
        out.contains("l32=1") && out.contains("l64=0"),
        "{out}\n{}",
        c.container_stderr()
    );
}

/// runtime-spec: a syscall name the runtime does not know is skipped (with a
/// warning), and the known names of the same rule still apply.
#[test]
fn unknown_syscall_names_are_skipped_with_a_warning() {
    let mut c = Ctr::new("sc-unknown", &["sh", "-c", "mkdir /tmp/u; echo rc=$?"]);
    c.config()["linux"]["seccomp"] = allow_all_but(json!([
        {"names": ["hoist_no_such_syscall", "mkdir", "mkdirat"],
         "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
    ]));
    c.write();
    let out = c.run_ok();
    let err = c.container_stderr();
    assert!(out.contains("rc=1"), "{out}\n{err}");
    assert!(err.contains("Function not implemented"), "{err}");
    assert!(
        err.contains("hoist_no_such_syscall"),
        "no warning naming the unknown syscall:\n{err}"
    );
}

/// An action, operator or flag the runtime does not know is an error in the config,
/// not something to guess about: create fails with exit 1 and leaves nothing.
#[test]
fn unknown_action_operator_or_flag_fails_create() {
    let bad = [
        (
            "SCMP_ACT_HOIST_BOGUS",
            allow_all_but(json!([{"names": ["mkdir"], "action": "SCMP_ACT_HOIST_BOGUS"}])),
        ),
        (
            "SCMP_CMP_HOIST_BOGUS",
            allow_all_but(json!([{"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_HOIST_BOGUS"}]}])),
        ),
        ("SECCOMP_FILTER_FLAG_HOIST_BOGUS", {
            let mut p = mkdir_enosys();
            p["flags"] = json!(["SECCOMP_FILTER_FLAG_HOIST_BOGUS"]);
            p
        }),
        ("SCMP_ACT_HOIST_DEFAULT", {
            let mut p = mkdir_enosys();
            p["defaultAction"] = json!("SCMP_ACT_HOIST_DEFAULT");
            p
        }),
    ];
    for (needle, profile) in bad {
        let mut c = Ctr::new("sc-bad", &["true"]);
        c.config()["linux"]["seccomp"] = profile;
        c.write();
        let out = c.create();
        expect_error(&out, needle);
        c.assert_failed_create_left_nothing();
    }
}

/// With noNewPrivileges false the filter has to be loaded while the init still holds
/// CAP_SYS_ADMIN (before it becomes uid 1000); with true, no_new_privs allows it at
/// any time. Either way the process is filtered.
#[test]
fn no_new_privileges_false_and_true() {
    for (nnp, uid) in [(false, 1000), (false, 0), (true, 1000), (true, 0)] {
        let mut c = Ctr::new(
            "sc-nnp",
            &[
                "sh",
                "-c",
                "grep -E '^(Seccomp|NoNewPrivs|Uid):' /proc/self/status; mkdir /tmp/n; echo rc=$?",
            ],
        );
        c.config()["linux"]["seccomp"] = mkdir_enosys();
        c.config()["process"]["noNewPrivileges"] = json!(nnp);
        c.config()["process"]["user"] = json!({"uid": uid, "gid": uid});
        c.write();
        let out = c.run_ok();
        let err = c.container_stderr();
        let what = format!("noNewPrivileges {nnp}, uid {uid}:\n{out}\n{err}");
        assert_eq!(
            status_field(&out, "Seccomp").as_deref(),
            Some("2"),
            "{what}"
        );
        assert_eq!(
            status_field(&out, "NoNewPrivs").as_deref(),
            Some(if nnp { "1" } else { "0" }),
            "{what}"
        );
        assert!(
            status_field(&out, "Uid").is_some_and(|u| u.starts_with(&uid.to_string())),
            "{what}"
        );
        assert!(err.contains("Function not implemented"), "{what}");
    }
}

fn cache_entries(c: &Ctr) -> Vec<PathBuf> {
    let dir = c.rt.root.path().join(".seccomp-cache");
    let mut v: Vec<PathBuf> = fs::read_dir(&dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Runs a container with `profile` under `c`'s --root, `sh -c script`.
fn run_in(c: &Ctr, name: &str, profile: &Value, script: &str) -> String {
    let mut other = Ctr::sharing(name, &["sh", "-c", script], c);
    other.config()["linux"]["seccomp"] = profile.clone();
    other.write();
    let out = other.run_ok();
    out + &other.container_stderr()
}

/// One compiled program per distinct profile under `<root>/.seccomp-cache`: a second
/// container with the same profile reuses the file, a different profile adds one.
#[test]
fn cache_has_one_file_per_profile() {
    let mut first = Ctr::new("sc-cache", &["true"]);
    first.config()["linux"]["seccomp"] = mkdir_enosys();
    first.write();
    first.create_ok();
    let entries = cache_entries(&first);
    assert_eq!(entries.len(), 1, "after one create: {entries:?}");
    let before = fs::metadata(&entries[0]).expect("stat cache file");
    let before_bytes = fs::read(&entries[0]).expect("read cache file");

    let out = run_in(
        &first,
        "sc-cache2",
        &mkdir_enosys(),
        "mkdir /tmp/c; echo rc=$?",
    );
    assert!(out.contains("Function not implemented"), "{out}");
    let again = cache_entries(&first);
    assert_eq!(again, entries, "the same profile added a cache file");
    let after = fs::metadata(&entries[0]).expect("stat cache file");
    assert_eq!(
        (after.ino(), fs::read(&entries[0]).expect("read")),
        (before.ino(), before_bytes),
        "the same profile rewrote the cache file"
    );

    let other = allow_all_but(json!([
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}
    ]));
    let out = run_in(&first, "sc-cache3", &other, "mkdir /tmp/c; echo rc=$?");
    assert!(out.contains("Permission denied"), "{out}");
    assert_eq!(
        cache_entries(&first).len(),
        2,
        "a different profile should add a file"
    );
}

/// A damaged cache file is not trusted: the next container with the profile still
/// runs and is still filtered as the profile says.
#[test]
fn corrupted_cache_file_is_recompiled() {
    type Damage = fn(&[u8]) -> Vec<u8>;
    let damages: [(&str, Damage); 4] = [
        ("junk", |_| b"not a compiled program".to_vec()),
        ("empty", |_| Vec::new()),
        // Cut at an instruction boundary (8-byte instructions after a 12-byte header):
        // a crash between write and rename can leave such a prefix.
        ("truncated", |b| {
            let keep = 12 + ((b.len() - 12) / 8 / 2) * 8;
            b[..keep].to_vec()
        }),
        // One flipped bit in the errno of the first (x86_64) mkdir rule:
        // RET ERRNO|38 → ERRNO|39.
        ("bit flip", |b| {
            let needle = [0x26, 0x00, 0x05, 0x00];
            let at = b
                .windows(4)
                .position(|w| w == needle)
                .expect("the program returns ERRNO|38 somewhere");
            let mut v = b.to_vec();
            v[at] ^= 1;
            v
        }),
    ];
    let mut failed = Vec::new();
    for (what, damage) in damages {
        let mut first = Ctr::new("sc-corrupt", &["true"]);
        first.config()["linux"]["seccomp"] = mkdir_enosys();
        first.write();
        first.create_ok();
        let entries = cache_entries(&first);
        assert_eq!(entries.len(), 1, "{entries:?}");
        let good = fs::read(&entries[0]).expect("read cache file");
        fs::write(&entries[0], damage(&good)).expect("damage cache file");

        let mut second = Ctr::sharing(
            "sc-corrupt2",
            &[
                "sh",
                "-c",
                "grep '^Seccomp:' /proc/self/status; mkdir /tmp/d; echo rc=$?",
            ],
            &first,
        );
        second.config()["linux"]["seccomp"] = mkdir_enosys();
        second.write();
        let out = second.run();
        let err = second.container_stderr();
        if !out.success() {
            failed.push(format!(
                "cache damaged ({what}): the container should still run:\n{out}"
            ));
        } else if !(out.stdout.contains("Seccomp:\t2")
            && out.stdout.contains("rc=1")
            && err.contains("Function not implemented"))
        {
            failed.push(format!(
                "cache damaged ({what}): the filter should be the profile's \
                 (mkdir: ENOSYS):\n{out}\n--- container stderr\n{err}"
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

/// What the agent saw of one notification, and what it answered.
#[derive(Debug, Clone)]
struct Seen {
    nr: i32,
    arch: u32,
    pid: u32,
    /// The notifying process's pid namespace, read while it waits for the answer.
    pidns: String,
    path: String,
    answer: &'static str,
}

/// The path a process passed as a syscall's first argument, read from its memory.
fn path_arg(pid: u32, addr: u64) -> String {
    let Ok(mem) = fs::File::open(format!("/proc/{pid}/mem")) else {
        return String::new();
    };
    let mut buf = [0u8; 256];
    let n = mem.read_at(&mut buf, addr).unwrap_or(0);
    let end = buf[..n].iter().position(|&b| b == 0).unwrap_or(n);
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The agent: answers mkdir by path (`/a` EPERM, `/b` a success that did nothing,
/// `/c` EACCES, anything else EIO) until `stop`, recording what it saw.
fn agent(fd: OwnedFd, stop: Arc<AtomicBool>, seen: Arc<Mutex<Vec<Seen>>>) {
    while !stop.load(Ordering::Relaxed) {
        let n = match notify::recv(&fd, Duration::from_millis(200)) {
            notify::Event::Notif(n) => n,
            notify::Event::Timeout => continue,
            notify::Event::Gone => return,
        };
        let path = path_arg(n.pid, n.data.args[0]);
        let pidns = ns_of(n.pid, "pid");
        let (answer, val, errno) = match path.as_str() {
            "/a" => ("EPERM", 0, libc::EPERM),
            "/b" => ("fake success", 0, 0),
            "/c" => ("EACCES", 0, libc::EACCES),
            _ => ("EIO", 0, libc::EIO),
        };
        let _ = notify::send(&fd, n.id, val, errno);
        seen.lock().expect("seen").push(Seen {
            nr: n.data.nr,
            arch: n.data.arch,
            pid: n.pid,
            pidns,
            path,
            answer,
        });
    }
}

fn ns_of(pid: impl std::fmt::Display, ns: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

fn is_json(b: &[u8]) -> bool {
    serde_json::from_slice::<Value>(b).is_ok()
}

/// Checks the listener payload runc sends: {"ociVersion","fds":["seccompFd"],"pid",
/// "metadata","state":{...}}.
fn check_payload(raw: &[u8], c: &Ctr, pid: Option<i64>, status: &str) -> Value {
    let text = String::from_utf8_lossy(raw);
    let p: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("listener payload is not JSON ({e}): {text}"));
    assert!(
        p["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
        "{p}"
    );
    assert_eq!(p["fds"], json!(["seccompFd"]), "{p}");
    assert_eq!(p["metadata"], "hoist-agent-meta", "{p}");
    assert!(p["pid"].as_i64().is_some_and(|v| v > 0), "{p}");
    if let Some(pid) = pid {
        assert_eq!(p["pid"].as_i64(), Some(pid), "{p}");
    }
    let st = &p["state"];
    assert_eq!(st["id"], json!(c.id), "{p}");
    assert_eq!(st["status"], status, "{p}");
    assert!(st["ociVersion"].as_str().is_some(), "{p}");
    let bundle = st["bundle"].as_str().unwrap_or_default();
    assert_eq!(
        fs::canonicalize(bundle).ok(),
        fs::canonicalize(c.bundle.path()).ok(),
        "{p}"
    );
    p
}

/// SCMP_ACT_NOTIFY: the runtime sends the notify fd of the init, and then of an
/// `exec`'d process, to listenerPath with runc's payload; the agent's answers are what
/// mkdir returns in the container.
#[test]
fn notify_listener_answers_for_the_container() {
    let dir = common::scratch("agent");
    let sock = dir.path().join("agent.sock");
    let listener = UnixListener::bind(&sock).expect("bind listener");
    let mut c = Ctr::new(
        "sc-notify",
        &[
            "sh",
            "-c",
            "mkdir /a; echo a=$?; [ -d /a ] && echo a:present || echo a:absent; \
             mkdir /b; echo b=$?; [ -d /b ] && echo b:present || echo b:absent; \
             echo init-done; exec sleep 30",
        ],
    );
    c.config()["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ARCHES,
        "listenerPath": sock,
        "listenerMetadata": "hoist-agent-meta",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    });
    c.write();

    let stop = Arc::new(AtomicBool::new(false));
    let _stop_agents = StopOnDrop(stop.clone());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut agents = Vec::new();
    let spawn_agent = |fd: OwnedFd| {
        let (stop, seen) = (stop.clone(), seen.clone());
        std::thread::spawn(move || agent(fd, stop, seen))
    };

    let (create, payload) = serve_listener(
        &listener,
        || c.create(),
        |fd| {
            agents.push(spawn_agent(fd));
        },
    );
    expect_ok(&create);
    let init_pid = c.pid();
    check_payload(&payload, &c, Some(init_pid), "creating");
    c.start_ok();
    let out = c.wait_stdout("init-done");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        ["a=1", "a:absent", "b=0", "b:absent", "init-done"],
        "init: /a should fail with EPERM, /b succeed without a directory\n{}",
        c.container_stderr()
    );
    assert!(
        c.container_stderr().contains("Operation not permitted"),
        "{}",
        c.container_stderr()
    );

    // exec: a second connection, with the exec process's own notify fd.
    let exec_pid_file = dir.path().join("exec.pid");
    let exec_args = [
        "exec",
        "--pid-file",
        exec_pid_file.to_str().expect("utf-8"),
        &c.id,
        "sh",
        "-c",
        "mkdir /c; echo c=$?; [ -d /c ] && echo c:present || echo c:absent",
    ];
    let (exec, payload) = serve_listener(
        &listener,
        || support::exec_with(c.cmd(&exec_args), None, None),
        |fd| agents.push(spawn_agent(fd)),
    );
    expect_ok(&exec);
    let p = check_payload(&payload, &c, None, "running");
    if let Ok(pid) = fs::read_to_string(&exec_pid_file) {
        assert_eq!(p["pid"].as_i64(), pid.trim().parse::<i64>().ok(), "{p}");
    }
    assert_eq!(
        exec.stdout.lines().collect::<Vec<_>>(),
        ["c=1", "c:absent"],
        "exec: /c should fail with EACCES\n{exec}"
    );
    assert!(exec.stderr.contains("Permission denied"), "{exec}");
    stop.store(true, Ordering::Relaxed);
    for a in agents {
        a.join().expect("agent");
    }

    let seen = seen.lock().expect("seen").clone();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, ["/a", "/b", "/c"], "{seen:?}");
    let answers: Vec<&str> = seen.iter().map(|s| s.answer).collect();
    assert_eq!(answers, ["EPERM", "fake success", "EACCES"], "{seen:?}");
    let init_pidns = ns_of(init_pid, "pid");
    for s in &seen {
        assert_eq!(s.arch, notify::AUDIT_ARCH_X86_64, "{s:?}");
        assert!(s.nr == 83 || s.nr == 258, "mkdir or mkdirat: {s:?}");
        assert!(s.pid > 0, "{s:?}");
        assert_eq!(s.pidns, init_pidns, "not a process of the container: {s:?}");
    }
}

/// Runs `run` (a runtime command that hands a notify fd to listenerPath) in a thread,
/// accepts its connection, and gives the fd to `with_fd` while the command may still
/// be waiting on an answer; returns the command's result and the payload.
fn serve_listener(
    listener: &UnixListener,
    run: impl FnOnce() -> support::Out + Send,
    with_fd: impl FnOnce(OwnedFd),
) -> (support::Out, Vec<u8>) {
    std::thread::scope(|s| {
        let cmd = s.spawn(run);
        let Some(conn) = fdpass::accept(listener, SETTLE, || cmd.is_finished()) else {
            let out = cmd.join().expect("runtime thread");
            panic!("no connection to listenerPath:\n{out}");
        };
        let (payload, fd) = fdpass::recv_with_fd(&conn, is_json);
        with_fd(fd.expect("no fd came with the payload"));
        (cmd.join().expect("runtime thread"), payload)
    })
}

/// Stops an agent loop when the test ends, also by panic.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// An `exec`'d process gets the container's profile (errnoRet and all).
#[test]
fn exec_process_gets_the_containers_profile() {
    let mut c = Ctr::new("sc-execp", &["sleep", "30"]);
    c.config()["linux"]["seccomp"] = mkdir_enosys();
    c.write();
    c.create_ok();
    c.start_ok();
    let out = c.exec(&["sh", "-c", "mkdir /tmp/e; echo rc=$?"]);
    expect_ok(&out);
    assert!(out.stdout.contains("rc=1"), "{out}");
    assert!(out.stderr.contains("Function not implemented"), "{out}");
    assert!(!c.rootfs().join("tmp/e").exists());
}

/// Regression (found by runtime-tools' validation suite): an allow-list without
/// close_range, loaded early because noNewPrivileges is false, must not stop the
/// runtime from closing fds before exec — they are marked close-on-exec before any
/// filter is loaded.
#[test]
fn profile_without_close_range_and_nnp_false_still_runs() {
    let mut c = default_profile_ctr("sc-noclose", &["sh", "-c", "echo ran; ls /proc/self/fd"]);
    let cfg = c.config();
    cfg["process"]["noNewPrivileges"] = json!(false);
    for rule in cfg["linux"]["seccomp"]["syscalls"]
        .as_array_mut()
        .expect("syscalls")
    {
        if let Some(names) = rule["names"].as_array_mut() {
            names.retain(|n| n != "close_range");
        }
    }
    c.write();
    let out = c.run_ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.first(),
        Some(&"ran"),
        "{out}\n{}",
        c.container_stderr()
    );
    // ls's own directory fd 3 aside, only stdio reached the process.
    assert!(
        lines[1..].iter().all(|l| ["0", "1", "2", "3"].contains(l)),
        "{out}"
    );
}
