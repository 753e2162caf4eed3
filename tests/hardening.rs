//! Regression tests for the container-escape classes of the last years, each written
//! as a small reproduction of its own and each naming the CVE class it guards:
//! the process's cwd and fds (CVE-2024-21626), mount targets and /dev and masked paths
//! through symlinks in the image (CVE-2025-31133, CVE-2025-52565, CVE-2025-52881,
//! CVE-2019-19921), the runtime binary reachable through /proc/PID/exe
//! (CVE-2019-5736), and sysctl writes (CVE-2025-52881).
//!
//! A defence may make create fail cleanly (exit 1, nothing left) or leave the
//! container safe; what may never happen is a change on the host. The reproductions
//! are defused so that a failing test damages nothing: procfs redirects aim at a file
//! of the container's own namespaces, the one host sysctl named is written with the
//! value it already has, and the binary attacked is a private copy of the runtime.

mod common;
#[path = "security/exe_probe.rs"]
mod exe_probe;
#[path = "security/fdpass.rs"]
mod fdpass;
#[path = "security/support.rs"]
mod support;

use std::fs;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use support::{exec_with, expect_error, expect_ok, output_file, poll, read, Ctr, Out, SETTLE};

fn core_pattern() -> String {
    read("/proc/sys/kernel/core_pattern")
}

/// The config without the tmpfs on /dev, so that the image's own /dev is what the
/// runtime finds (as with images that ship /dev, or a /dev shared between containers).
fn use_image_dev(c: &mut Ctr) {
    c.config()["mounts"]
        .as_array_mut()
        .expect("mounts")
        .retain(|m| m["destination"] != "/dev");
    c.write();
}

/// A symlink `link` (absolute inside the container) in the rootfs pointing at `target`.
fn plant_symlink(c: &Ctr, link: &str, target: &str) {
    let at = c.rootfs().join(link.trim_start_matches('/'));
    if let Some(parent) = at.parent() {
        fs::create_dir_all(parent).expect("mkdir in rootfs");
    }
    let _ = fs::remove_file(&at);
    symlink(target, &at).unwrap_or_else(|e| panic!("symlink {}: {e}", at.display()));
}

/// Whether `create` (or `run`) succeeded; a failure must be a clean one (exit 1,
/// nothing left behind), anything else fails the test.
fn created_or_refused(c: &Ctr, out: &Out) -> bool {
    if out.success() {
        return true;
    }
    assert_eq!(
        out.code,
        Some(1),
        "create should succeed or fail with exit 1:\n{out}"
    );
    c.assert_failed_create_left_nothing();
    false
}

// ---- cwd and fds: CVE-2024-21626 ("Leaky Vessels"): a host directory fd left open
// in the init became the process's cwd through process.cwd = /proc/self/fd/N, and
// `..` from there walked the host.

/// process.cwd with `..` or through an absolute symlink of the image resolves inside
/// the rootfs: a file written relative to the cwd lands in the rootfs, never on the
/// host (the symlink names a real host directory, which must stay empty).
#[test]
fn cwd_through_dotdot_and_symlinks_stays_in_the_rootfs() {
    let host = common::scratch("hostdir");
    let host_str = host.path().to_str().expect("utf-8").to_string();
    // (process.cwd, where in the rootfs it must resolve to)
    let cases = [
        ("/../../../..".to_string(), String::new()),
        ("/escape".to_string(), String::new()),
        ("/escape-host".to_string(), host_str.clone()),
        ("/up/tmp".to_string(), "tmp".to_string()),
        (format!("/../../../..{host_str}"), host_str.clone()),
    ];
    for (cwd, lands) in cases {
        let marker = format!("cwd-marker-{}", std::process::id());
        let mut c = Ctr::new(
            "cwd",
            &["sh", "-c", &format!("echo inside > ./{marker}; pwd")],
        );
        plant_symlink(&c, "/escape", "/");
        plant_symlink(&c, "/escape-host", &host_str);
        plant_symlink(&c, "/up", "../../../../../..");
        // The host directory's twin inside the rootfs, so that the chdir works when
        // it is resolved as it should be.
        fs::create_dir_all(c.rootfs().join(host_str.trim_start_matches('/'))).expect("mkdir twin");
        c.config()["process"]["cwd"] = json!(cwd);
        c.write();
        let out = c.run();
        let left: Vec<_> = fs::read_dir(host.path())
            .expect("read host dir")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(
            left.is_empty(),
            "cwd {cwd:?}: the container wrote into the host directory: {left:?}"
        );
        assert!(
            !Path::new("/").join(&marker).exists(),
            "cwd {cwd:?}: the container wrote into the host's /"
        );
        expect_ok(&out);
        let inside = c.rootfs().join(lands.trim_start_matches('/')).join(&marker);
        assert_eq!(
            fs::read_to_string(&inside).unwrap_or_default(),
            "inside\n",
            "cwd {cwd:?}: marker not at {}; pwd said {}",
            inside.display(),
            out.stdout
        );
    }
}

/// A host directory the runtime was started with (here: /sys/fs/cgroup, as in the
/// CVE) as a leaked fd 3..12: process.cwd = /proc/self/fd/N must fail cleanly or give
/// a cwd inside the container, from which `..` never reaches the host.
#[test]
fn cwd_proc_self_fd_cannot_reach_the_host() {
    let host = common::scratch("leak");
    let host_marker = host.path().join("host-marker");
    fs::write(&host_marker, "host\n").expect("write host marker");
    let up = "../".repeat(16);
    let probe = format!(
        "cat {up}{} 2>/dev/null && echo ESCAPED; pwd",
        host_marker.display()
    );
    for n in 3..=12 {
        let mut c = Ctr::new("cwdfd", &["sh", "-c", &probe]);
        c.config()["process"]["cwd"] = json!(format!("/proc/self/fd/{n}"));
        c.write();
        let out = run_with_leaked_dir(&c, &["run", "--bundle", c.bundle_str(), &c.id]);
        assert!(
            !out.stdout.contains("ESCAPED") && !out.stdout.contains("host"),
            "cwd /proc/self/fd/{n} reached the host:\n{out}"
        );
        if out.success() {
            assert!(
                out.stdout.trim().starts_with('/'),
                "cwd /proc/self/fd/{n}: pwd is not inside the container:\n{out}"
            );
        } else {
            assert_eq!(out.code, Some(1), "cwd /proc/self/fd/{n}:\n{out}");
        }
    }

    // The same through `exec --cwd`.
    let c = Ctr::new("cwdfd-exec", &["sleep", "30"]);
    c.create_ok();
    c.start_ok();
    for n in 3..=12 {
        let cwd = format!("/proc/self/fd/{n}");
        let out = run_with_leaked_dir(&c, &["exec", "--cwd", &cwd, &c.id, "sh", "-c", &probe]);
        assert!(
            !out.stdout.contains("ESCAPED") && !out.stdout.contains("host"),
            "exec --cwd {cwd} reached the host:\n{out}"
        );
        if out.success() {
            assert!(
                out.stdout.trim().starts_with('/'),
                "exec --cwd {cwd}:\n{out}"
            );
        }
    }
}

/// Runs the runtime with `args` and a host directory fd (/sys/fs/cgroup) open without
/// close-on-exec at fds 5 and 9, as a careless caller might leave it.
fn run_with_leaked_dir(c: &Ctr, args: &[&str]) -> Out {
    let dir = fs::File::open("/sys/fs/cgroup").expect("open /sys/fs/cgroup");
    let raw = dir.as_raw_fd();
    let mut cmd = c.cmd(args);
    // SAFETY: between fork and exec the closure only calls dup2, which is
    // async-signal-safe; `raw` stays open in the parent until spawn returns.
    unsafe {
        cmd.pre_exec(move || {
            for target in [5, 9] {
                if libc::dup2(raw, target) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let out = exec_with(cmd, Some(output_file(&c.stdout_path())), None);
    drop(dir);
    out
}

fn fd_list(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

/// Only 0, 1 and 2 reach the container's process and an exec'd one, even when the
/// runtime itself was started with a host directory fd open (DESIGN.md rule 2).
#[test]
fn only_stdio_fds_reach_the_process() {
    let c = Ctr::new(
        "fds",
        &["sh", "-c", "ls /proc/$$/fd; ls -l /proc/$$/fd >&2"],
    );
    let out = run_with_leaked_dir(&c, &["run", "--bundle", c.bundle_str(), &c.id]);
    expect_ok(&out);
    assert_eq!(fd_list(&out.stdout), ["0", "1", "2"], "{out}");

    let c = Ctr::new("fds-exec", &["sleep", "30"]);
    c.create_ok();
    c.start_ok();
    let out = run_with_leaked_dir(
        &c,
        &[
            "exec",
            &c.id,
            "sh",
            "-c",
            "ls /proc/$$/fd; ls -l /proc/$$/fd >&2",
        ],
    );
    expect_ok(&out);
    assert_eq!(fd_list(&out.stdout), ["0", "1", "2"], "{out}");
}

// ---- mount targets through symlinks of the image (CVE-2019-19921 class, and the
// mount-target races of CVE-2025-52565): a destination is resolved inside the rootfs.

/// The image has `mnt -> /../../../../<host dir>`; a tmpfs on /mnt/x lands in the
/// rootfs, and nothing is made in the host directory.
#[test]
fn mount_destination_through_symlink_lands_in_the_rootfs() {
    let host = common::scratch("hostdir");
    let host_str = host.path().to_str().expect("utf-8").to_string();
    let mut c = Ctr::new(
        "mntlink",
        &[
            "sh",
            "-c",
            "stat -f -c %T /mnt/x; echo inside > /mnt/x/file; echo ok",
        ],
    );
    plant_symlink(&c, "/mnt", &format!("/../../../..{host_str}"));
    c.config()["mounts"].as_array_mut().expect("mounts").push(
        json!({"destination": "/mnt/x", "type": "tmpfs", "source": "tmpfs-through-link",
                     "options": ["nosuid", "nodev", "mode=755"]}),
    );
    c.write();
    let out = c.run();
    let left: Vec<_> = fs::read_dir(host.path())
        .expect("read host dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        left.is_empty(),
        "the mount made {left:?} in the host directory"
    );
    if created_or_refused(&c, &out) {
        assert!(
            out.stdout.contains("tmpfs") && out.stdout.contains("ok"),
            "/mnt/x should be the tmpfs:\n{out}"
        );
        let twin = c.rootfs().join(host_str.trim_start_matches('/')).join("x");
        assert!(
            twin.is_dir(),
            "the mount point should be inside the rootfs at {}",
            twin.display()
        );
    }
}

// ---- /dev and masked paths through symlinks: CVE-2025-31133 (a /dev/null that is a
// symlink made runc bind a procfs file such as core_pattern over masked paths,
// writable), CVE-2025-52565 (/dev/console bind through a symlink), CVE-2025-52881
// (writes redirected to other procfs files).
//
// The real attacks point the symlink at /proc/sys/kernel/core_pattern. These tests
// point it at ../proc/sys/kernel/hostname instead: the same kind of procfs file, but of
// the container's own UTS namespace, so that a runtime with the hole rewrites the
// container's hostname ("hoist" in the config) and not the host's core_pattern
// (runc 1.1.5 does write through such a /dev/null). The container reports into a file
// of its rootfs, since a runtime with the hole may point its stdio at the symlink.

/// Relative, so that it names the container's procfs file however it is resolved.
const REDIRECT: &str = "../proc/sys/kernel/hostname";

/// What the container wrote to /hoist-result in its rootfs, once it has written "done".
fn wait_result(c: &Ctr) -> String {
    let path = c.rootfs().join("hoist-result");
    poll(SETTLE, || {
        let s = fs::read_to_string(&path).unwrap_or_default();
        s.contains("done").then_some(s)
    })
    .unwrap_or_else(|| {
        panic!(
            "the container never finished; result so far: {:?}\nstdout: {}\nstderr: {}",
            fs::read_to_string(&path).unwrap_or_default(),
            c.container_stdout(),
            c.container_stderr()
        )
    })
}

/// The image's /dev/null is a symlink to a procfs file. The container must not end up
/// with that file bound over a masked path (/proc/kcore), nor as its /dev/null (the
/// default devices are the runtime's to supply, masked paths or not); it writes
/// through both and checks that its hostname is still its own.
#[test]
fn dev_null_symlink_to_procfs() {
    let host_before = core_pattern();
    let script = "exec >/hoist-result 2>/hoist-errors; \
         stat -c 'null=%F %t:%T' /dev/null; \
         echo REDIRECTED-KCORE > /proc/kcore && echo WROTE-kcore; \
         echo REDIRECTED-NULL > /dev/null; \
         head -c 64 /proc/kcore | grep -q . && echo KCORE-HAS-DATA; \
         echo \"hostname=$(hostname)\"; echo done";
    let mut failed = Vec::new();
    for masked in [true, false] {
        let mut c = Ctr::new("devnull", &["sh", "-c", script]);
        if !masked {
            c.config()["linux"]["maskedPaths"] = json!([]);
        }
        use_image_dev(&mut c);
        plant_symlink(&c, "/dev/null", REDIRECT);
        let out = c.create();
        if !created_or_refused(&c, &out) {
            continue;
        }
        c.start_ok();
        let got = wait_result(&c);
        let what = if masked {
            "with maskedPaths"
        } else {
            "without maskedPaths"
        };
        if !got.contains("null=character special file 1:3") {
            failed.push(format!(
                "{what}: /dev/null in the container is not the null device:\n{got}"
            ));
        }
        if got.contains("WROTE-kcore") || got.contains("KCORE-HAS-DATA") {
            failed.push(format!("{what}: a masked path is not /dev/null:\n{got}"));
        }
        if !got.contains("hostname=hoist\n") {
            failed.push(format!("{what}: a write went into the procfs file:\n{got}"));
        }
    }
    assert_eq!(
        core_pattern(),
        host_before,
        "the host's core_pattern changed"
    );
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// A masked path that is a symlink in the image (to an absolute path that also exists
/// on the host) is masked where it resolves inside the rootfs: the container reads
/// nothing through it, and the host file is untouched.
#[test]
fn masked_path_through_symlink_is_masked_inside() {
    let host = common::scratch("masked");
    let secret = host.path().join("secret");
    fs::write(&secret, "host-secret\n").expect("write host file");
    let secret_str = secret.to_str().expect("utf-8").to_string();
    let mut c = Ctr::new(
        "masklink",
        &[
            "sh",
            "-c",
            "cat /etc/hoist-secret; echo; cat /etc/hoist-secret-dir/file; echo done",
        ],
    );
    plant_symlink(&c, "/etc/hoist-secret", &format!("/../../..{secret_str}"));
    plant_symlink(
        &c,
        "/etc/hoist-secret-dir",
        &format!("../..{}", host.path().display()),
    );
    let twin = c.rootfs().join(secret_str.trim_start_matches('/'));
    fs::create_dir_all(twin.parent().expect("parent")).expect("mkdir twin");
    fs::write(&twin, "rootfs-secret\n").expect("write twin");
    fs::write(twin.with_file_name("file"), "rootfs-dir-secret\n").expect("write twin");
    c.config()["linux"]["maskedPaths"]
        .as_array_mut()
        .expect("maskedPaths")
        .extend([json!("/etc/hoist-secret"), json!("/etc/hoist-secret-dir")]);
    c.write();
    let out = c.run();
    assert_eq!(read(&secret), "host-secret\n", "the host file changed");
    if out.success() {
        assert!(
            !out.stdout.contains("secret"),
            "a masked path was readable:\n{out}"
        );
    } else {
        assert_eq!(out.code, Some(1), "{out}");
    }
}

/// The image's /dev/ptmx points at a procfs file: the runtime makes its own
/// /dev/ptmx (-> pts/ptmx) and never writes through the image's.
#[test]
fn dev_ptmx_symlink_is_replaced() {
    let host_before = core_pattern();
    let mut c = Ctr::new(
        "ptmx",
        &[
            "sh",
            "-c",
            "exec >/hoist-result 2>&1; readlink /dev/ptmx; stat -c %F /dev/pts/ptmx; \
             echo \"hostname=$(hostname)\"; echo done",
        ],
    );
    use_image_dev(&mut c);
    plant_symlink(&c, "/dev/ptmx", REDIRECT);
    let out = c.create();
    if created_or_refused(&c, &out) {
        c.start_ok();
        let got = wait_result(&c);
        assert!(got.starts_with("pts/ptmx\n"), "/dev/ptmx: {got}");
        assert!(got.contains("hostname=hoist\n"), "{got}");
    }
    assert_eq!(
        core_pattern(),
        host_before,
        "the host's core_pattern changed"
    );
}

/// Reads `fd` (a pty master) until `needle` shows, the peer hangs up, or `limit`.
fn read_pty_until(fd: &OwnedFd, needle: &str, limit: Duration) -> String {
    let mut f = fs::File::from(fd.try_clone().expect("dup pty master"));
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline && !String::from_utf8_lossy(&got).contains(needle) {
        let mut p = libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd, live for the call.
        if unsafe { libc::poll(&mut p, 1, 100) } <= 0 {
            continue;
        }
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).replace('\r', "")
}

/// process.terminal with an image whose /dev/console points at a procfs file: the
/// pty must not be bound over that file, and /dev/console must be the pty.
#[test]
fn dev_console_symlink_is_not_followed() {
    let host_before = core_pattern();
    let dir = common::scratch("console");
    let sock = dir.path().join("console.sock");
    let listener = UnixListener::bind(&sock).expect("bind console socket");
    let mut c = Ctr::new(
        "console",
        &[
            "sh",
            "-c",
            "stat -c 'console=%F' /dev/console; stat -c 'procfile=%F' /proc/sys/kernel/hostname; \
             echo \"hostname=$(cat /proc/sys/kernel/hostname)\"; echo done",
        ],
    );
    use_image_dev(&mut c);
    plant_symlink(&c, "/dev/console", REDIRECT);
    c.config()["process"]["terminal"] = json!(true);
    c.write();
    let pid_file = c.pid_file();
    let (out, master) = std::thread::scope(|s| {
        let create = s.spawn(|| {
            exec_with(
                c.cmd(&[
                    "create",
                    "--bundle",
                    c.bundle_str(),
                    "--pid-file",
                    pid_file.to_str().expect("utf-8"),
                    "--console-socket",
                    sock.to_str().expect("utf-8"),
                    &c.id,
                ]),
                None,
                None,
            )
        });
        let conn = fdpass::accept(&listener, SETTLE, || create.is_finished());
        let master = conn.and_then(|s| fdpass::recv_with_fd(&s, |_| true).1);
        (create.join().expect("create thread"), master)
    });
    if created_or_refused(&c, &out) {
        let master = master.expect("no pty master came over the console socket");
        c.start_ok();
        let got = read_pty_until(&master, "done", SETTLE);
        assert!(
            got.contains("console=character special file"),
            "/dev/console is not the pty:\n{got}"
        );
        assert!(
            got.contains("procfile=regular empty file") && got.contains("hostname=hoist\n"),
            "the pty was bound over the procfs file /dev/console points at:\n{got}"
        );
    }
    assert_eq!(
        core_pattern(),
        host_before,
        "the host's core_pattern changed"
    );
}

// ---- the runtime binary through /proc/PID/exe: CVE-2019-5736. A process in the
// container opens the exe of a runtime process that is visible in its pid namespace
// (the waiting init, an exec'd process before execve, or the runtime re-executed in
// the container by a `#!/proc/self/exe` script), keeps the fd, and writes through
// /proc/self/fd/N once nothing executes the file any more. Every test here attacks a
// private copy of the runtime binary and checks it byte for byte afterwards.

/// The probe's verdict: the copy is unchanged and the probe wrote nothing.
fn assert_binary_intact(target: &exe_probe::Target, probe: &exe_probe::Probe, what: &str) {
    let log = probe.log();
    let changed = target.restore_if_changed();
    assert!(
        log.contains("started") && log.contains("done"),
        "{what}: the probe did not run to its end:\n{log}"
    );
    assert!(
        !changed && !log.contains("wrote"),
        "{what}: the runtime binary was written from inside the container \
         (CVE-2019-5736 class); probe log:\n{log}"
    );
}

/// A created container's init waits in the runtime binary. A process exec'd into it
/// with the container's default capabilities tries /proc/1/exe (hoist's init is
/// non-dumpable until exec, so it cannot even open it), and when `start` lets the init
/// exec, nothing the probe held may write the binary.
#[test]
fn created_init_exe_cannot_be_written() {
    let target = exe_probe::Target::new();
    let c = Ctr::with_runtime("exe-init", &["sleep", "30"], target.runtime());
    let probe = exe_probe::Probe::install(&c);
    c.create_ok();
    probe.launch(&c);
    std::thread::sleep(Duration::from_millis(300));
    // Opening for reading is what the attack needs first; it is no hole by itself
    // where the init runs a read-only view of the binary (runc 1.1's bind), so the
    // verdict is the probe's: nothing it held may write once the init has exec'd.
    let one = c.exec(&[
        "sh",
        "-c",
        "readlink /proc/1/exe && echo READLINK-OK; (exec 3</proc/1/exe) && echo OPEN-R-OK; \
         (exec 3>>/proc/1/exe) && echo OPEN-W-OK; true",
    ]);
    c.start_ok();
    std::thread::sleep(Duration::from_millis(500));
    probe.stop();
    assert!(
        !one.stdout.contains("OPEN-W-OK"),
        "/proc/1/exe of the waiting init was opened for writing:\n{one}"
    );
    assert_binary_intact(&target, &probe, "created init");
}

/// The same with CAP_SYS_PTRACE in the container's capabilities (a common
/// `--cap-add`): non-dumpable no longer hides the init, so only a binary the
/// container cannot write (runc: a sealed memfd copy) keeps the host safe.
#[test]
fn created_init_exe_with_cap_sys_ptrace() {
    let target = exe_probe::Target::new();
    let mut c = Ctr::with_runtime("exe-ptrace", &["sleep", "30"], target.runtime());
    for set in ["bounding", "effective", "permitted"] {
        c.config()["process"]["capabilities"][set]
            .as_array_mut()
            .expect("capability set")
            .push(json!("CAP_SYS_PTRACE"));
    }
    c.write();
    let probe = exe_probe::Probe::install(&c);
    c.create_ok();
    probe.launch(&c);
    std::thread::sleep(Duration::from_millis(300));
    c.start_ok();
    std::thread::sleep(Duration::from_millis(800));
    probe.stop();
    assert_binary_intact(&target, &probe, "created init, CAP_SYS_PTRACE");
}

/// A loop in the container races 20 `exec`s, trying every /proc/*/exe that is not
/// its own busybox.
#[test]
fn exec_race_on_proc_exe() {
    let target = exe_probe::Target::new();
    let c = Ctr::with_runtime("exe-race", &["sleep", "30"], target.runtime());
    let probe = exe_probe::Probe::install(&c);
    c.create_ok();
    c.start_ok();
    probe.launch(&c);
    for _ in 0..20 {
        expect_ok(&c.exec(&["true"]));
    }
    std::thread::sleep(Duration::from_millis(300));
    probe.stop();
    assert_binary_intact(&target, &probe, "exec race");
}

/// The attack of CVE-2019-5736 itself: the image's /bin/evil is `#!/proc/self/exe`,
/// so `exec ID /bin/evil` makes the kernel run the runtime's own binary inside the
/// container (as a dumpable container process; the image carries the dynamic loader
/// and libraries that binary needs, as most images do). The probe holds its exe and
/// writes once it exits.
#[test]
fn exec_of_proc_self_exe_script() {
    let target = exe_probe::Target::new();
    let c = Ctr::with_runtime("exe-shebang", &["sleep", "30"], target.runtime());
    target.install_loader(&c.rootfs());
    let evil = c.rootfs().join("bin/evil");
    fs::write(&evil, "#!/proc/self/exe\n").expect("write /bin/evil");
    fs::set_permissions(&evil, fs::Permissions::from_mode(0o755)).expect("chmod /bin/evil");
    let probe = exe_probe::Probe::install(&c);
    c.create_ok();
    c.start_ok();
    probe.launch(&c);
    let mut runs = Vec::new();
    for _ in 0..3 {
        runs.push(c.exec(&["/bin/evil"]));
        std::thread::sleep(Duration::from_millis(300));
    }
    probe.stop();
    let runs: Vec<String> = runs.iter().map(ToString::to_string).collect();
    let log = probe.log();
    let changed = target.restore_if_changed();
    assert!(
        log.contains("started") && log.contains("done"),
        "the probe did not run to its end:\n{log}"
    );
    assert!(
        !changed && !log.contains("wrote"),
        "the runtime binary was written from inside the container through a \
         `#!/proc/self/exe` exec (CVE-2019-5736); probe log:\n{log}\nexecs:\n{}",
        runs.join("\n")
    );
}

/// `run` does not re-execute the runtime: its init execs the container's process
/// through the exec shim (a sealed memfd), so a `#!/proc/self/exe` entrypoint gets the
/// shim, which refuses to run as anything but the init. The host binary is never run
/// in the container and stays as it was.
#[test]
fn run_of_proc_self_exe_entrypoint() {
    let target = exe_probe::Target::new();
    let c = Ctr::with_runtime("exe-run-shebang", &["/bin/evil", "x"], target.runtime());
    target.install_loader(&c.rootfs());
    let evil = c.rootfs().join("bin/evil");
    fs::write(&evil, "#!/proc/self/exe\n").expect("write /bin/evil");
    fs::set_permissions(&evil, fs::Permissions::from_mode(0o755)).expect("chmod /bin/evil");
    let out = c.run();
    assert_eq!(
        out.code,
        Some(126),
        "run of a #!/proc/self/exe entrypoint:\n{out}"
    );
    let stderr = c.container_stderr();
    assert!(
        stderr.contains("the exec shim runs only as the container's init"),
        "the shim did not refuse the script:\n{stderr}\n{out}"
    );
    assert!(
        !target.restore_if_changed(),
        "the runtime binary changed through a `run` of a #!/proc/self/exe entrypoint"
    );
}

/// Where the container can see the init before it execs (no pid namespace of its
/// own: the host's processes, `run` among them, are in reach), `run` re-executes from
/// a protected binary as `create` does: the `run` process's own exe is then a file of
/// a read-only overlayfs or a sealed memfd, never the host's binary.
#[test]
fn run_without_pid_namespace_reexecutes_protected() {
    let target = exe_probe::Target::new();
    let mut c = Ctr::with_runtime("exe-run-hostpid", &["sleep", "5"], target.runtime());
    c.config()["linux"]["namespaces"]
        .as_array_mut()
        .expect("namespaces")
        .retain(|n| n["type"] != "pid");
    c.write();
    let mut child = c
        .cmd(&["run", "--bundle", c.bundle_str(), &c.id])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn run");
    let exe = format!("/proc/{}/exe", child.id());
    let host = fs::canonicalize(target.bin()).expect("the copy's path");
    // Wait until the container runs, then look at what `run` executes.
    poll(Duration::from_secs(10), || {
        let out = c.rt(&["state", &c.id]);
        (out.success() && out.stdout.contains("\"running\"")).then_some(())
    })
    .expect("the container did not come up");
    let seen = fs::read_link(&exe).unwrap_or_default();
    let file = fs::File::open(&exe).expect("open run's exe");
    // SAFETY: fstatfs fills the struct it is given.
    let magic = unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        assert_eq!(libc::fstatfs(file.as_raw_fd(), &mut st), 0);
        st.f_type
    };
    let _ = c.rt(&["kill", &c.id, "KILL"]);
    let _ = child.wait();
    const OVERLAYFS: i64 = 0x794c_7630;
    const TMPFS: i64 = 0x0102_1994;
    assert!(
        seen != host && (magic == OVERLAYFS || magic == TMPFS),
        "`run` without a pid namespace executes `{}` (fs magic {magic:#x}), not a protected copy",
        seen.display()
    );
}

// ---- sysctl: CVE-2025-52881 class. Writes to /proc/sys go to the container's own
// procfs, to the key named, and nowhere else.

#[test]
fn sysctl_keys_with_dotdot_or_slash_are_refused() {
    let host_core = core_pattern();
    let host_fwd = read("/proc/sys/net/ipv4/ip_forward");
    let value = host_core.trim_end().to_string();
    let bad = [
        "net.ipv4.ip_forward/../../../kernel/core_pattern",
        "net.ipv4/../../kernel/core_pattern",
        "net..ipv4.ip_forward",
        "net.ipv4.conf.all/forwarding",
        "net/ipv4/ip_forward",
        // Not namespaced: writing it would change the host.
        "kernel.core_pattern",
    ];
    for key in bad {
        let mut c = Ctr::new("sysctl", &["true"]);
        c.config()["linux"]["sysctl"] = json!({ key: value });
        // Refused when the config is read: not even the first hook may have run.
        let hook_ran = c.io.path().join("hook-ran");
        c.config()["hooks"] = json!({"createRuntime": [{"path": "/bin/sh",
            "args": ["sh", "-c", format!("touch {}", hook_ran.display())]}]});
        c.write();
        let out = c.create();
        expect_error(&out, "sysctl");
        c.assert_failed_create_left_nothing();
        assert!(
            !hook_ran.exists(),
            "sysctl {key:?} was refused only after the container was set up:\n{out}"
        );
        assert_eq!(
            core_pattern(),
            host_core,
            "{key}: the host's core_pattern changed"
        );
    }
    assert_eq!(read("/proc/sys/net/ipv4/ip_forward"), host_fwd);
}

/// A good key is written in the container's network namespace, not the host's.
#[test]
fn sysctl_is_written_in_the_container() {
    let host = read("/proc/sys/net/ipv4/ip_forward");
    let want = if host.trim() == "1" { "0" } else { "1" };
    let mut c = Ctr::new("sysctl-ok", &["cat", "/proc/sys/net/ipv4/ip_forward"]);
    c.config()["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": want});
    c.write();
    assert_eq!(c.run_ok().trim(), want);
    assert_eq!(read("/proc/sys/net/ipv4/ip_forward"), host);
}

/// The image points a mount destination at a sysctl file (`/vol ->
/// /proc/sys/net/ipv4/ip_forward`), so the bind of a volume lands over procfs and a
/// sysctl written by path afterwards goes into the volume. Either the mount over
/// /proc is refused (runc's checkProcMount) or the sysctl reaches procfs; the volume
/// on the host keeps its content.
#[test]
fn sysctl_write_is_not_redirected_by_a_mount() {
    let host = common::scratch("volume");
    let volume = host.path().join("volume");
    fs::write(&volume, "volume-untouched\n").expect("write volume");
    let mut c = Ctr::new("sysctl-redirect", &["cat", "/proc/sys/net/ipv4/ip_forward"]);
    plant_symlink(&c, "/vol", "/proc/sys/net/ipv4/ip_forward");
    c.config()["mounts"].as_array_mut().expect("mounts").push(
        json!({"destination": "/vol", "type": "bind", "source": volume,
                     "options": ["rbind", "rw"]}),
    );
    c.config()["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    c.write();
    let out = c.create();
    let created = created_or_refused(&c, &out);
    assert_eq!(
        read(&volume),
        "volume-untouched\n",
        "the sysctl write went into the volume mounted over /proc (created: {created}):\n{out}"
    );
}
