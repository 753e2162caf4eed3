//! What runs inside a pod: output and exit codes, the image's defaults and the app
//! flags, several apps sharing the network (localhost), IPC and UTS namespaces,
//! volumes, and the pod-wide flags (hostname, hosts entries, read-only rootfs,
//! capabilities, limits). Each test runs with every stage1.

use crate::common::run::expect_ok;
use crate::support::Env;

stage1_tests!(
    output_and_exit_status,
    first_failing_app_decides,
    app_flags_and_image_defaults,
    two_apps_share_localhost,
    volumes_rw_ro_and_named,
    pod_files_and_flags,
    net_none_has_only_loopback,
    seccomp_caps_and_rootfs_flags,
);

fn output_and_exit_status(stage1: &str) {
    let env = Env::new("out", stage1);
    let out = env.run(&[
        "--net",
        "none",
        "busybox",
        "--exec",
        "/bin/echo",
        "--",
        "hello",
        "pod",
    ]);
    expect_ok(&out);
    assert_eq!(out.stdout, "hello pod\n", "{out}");
    // The supervisor waits for signals with them blocked; the app must not inherit that,
    // nor any signal ignored on the way (glibc's posix_spawn leaves its internal ones
    // ignored in the child, which a runtime that does not reset them passes on).
    let out = env.run(&[
        "--net",
        "none",
        "busybox",
        "--",
        "grep",
        "-E",
        "^Sig(Blk|Ign)",
        "/proc/self/status",
    ]);
    expect_ok(&out);
    let masks: Vec<&str> = out.stdout.split_whitespace().collect();
    assert_eq!(
        masks,
        ["SigBlk:", "0000000000000000", "SigIgn:", "0000000000000000"],
        "{out}"
    );
    let out = env.run(&[
        "--net",
        "none",
        "busybox",
        "--",
        "sh",
        "-c",
        "echo err >&2; exit 7",
    ]);
    assert_eq!(out.code, Some(7), "{out}");
    assert!(out.stderr.contains("err"), "{out}");
}

fn first_failing_app_decides(stage1: &str) {
    let env = Env::new("exit", stage1);
    let out = env.run(&[
        "--net",
        "none",
        "busybox",
        "--exec",
        "/bin/true",
        "---",
        "busybox",
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "exit 4",
    ]);
    assert_eq!(
        out.code,
        Some(4),
        "the failing second app decides when the first succeeded:\n{out}"
    );
    let out = env.run(&[
        "--net", "none", "busybox", "--exec", "/bin/sh", "--", "-c", "exit 3", "---", "busybox",
        "--exec", "/bin/sh", "--", "-c", "exit 4",
    ]);
    assert_eq!(out.code, Some(3), "the first app's status wins:\n{out}");
}

fn app_flags_and_image_defaults(stage1: &str) {
    let env = Env::new("flags", stage1);
    let envfile = env.dir().join("env");
    std::fs::write(&envfile, "# comment\nFROM_FILE=yes\nA=file\n").unwrap();
    let out = env.run(&[
        "--net",
        "none",
        "busybox",
        "--env",
        "A=flag",
        "--env-file",
        envfile.to_str().unwrap(),
        "--user",
        "65534:65534",
        "--working-dir",
        "/tmp",
        "--",
        "sh",
        "-c",
        "echo $A $FROM_FILE; id -u; id -g; pwd; echo $PATH",
    ]);
    expect_ok(&out);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "flag yes", "--env beats --env-file:\n{out}");
    assert_eq!(&lines[1..4], ["65534", "65534", "/tmp"], "{out}");
    assert!(lines[4].contains("/bin"), "{out}");
    // Without flags the image's Cmd runs (busybox: `sh`, which reads the empty stdin and
    // ends well); arguments after `--` replace the Cmd.
    let out = env.run(&["--net", "none", "busybox"]);
    expect_ok(&out);
    let out = env.run(&["--net", "none", "busybox", "--", "echo", "cmd replaced"]);
    expect_ok(&out);
    assert_eq!(out.stdout, "cmd replaced\n", "{out}");
    let out = env.run(&[
        "--net", "none", "busybox", "--user", "root", "--", "id", "-un",
    ]);
    expect_ok(&out);
    assert_eq!(out.stdout.trim(), "root", "{out}");
}

fn two_apps_share_localhost(stage1: &str) {
    let env = Env::new("localhost", stage1);
    let www = env.dir().join("www");
    std::fs::create_dir(&www).unwrap();
    std::fs::write(www.join("index.html"), "from the server app\n").unwrap();
    let vol = format!("{}:/www:ro", www.display());
    let out = env.run(&[
        "--net", "none", "--volume", &vol,
        "busybox", "--name", "server", "--exec", "/bin/sh", "--", "-c",
        "httpd -p 127.0.0.1:8080 -h /www; sleep 3; echo > /dev/shm/ipc-ok; sleep 1",
        "---",
        "busybox", "--name", "client", "--exec", "/bin/sh", "--", "-c",
        "for i in $(seq 50); do wget -q -O - http://127.0.0.1:8080/index.html && break; sleep 0.1; done; \
         hostname; while [ ! -e /dev/shm/ipc-ok ]; do sleep 0.1; done; echo shm shared",
    ]);
    expect_ok(&out);
    assert!(
        out.stdout.contains("from the server app"),
        "the client reached the server over localhost:\n{out}"
    );
    assert!(
        out.stdout.contains("shm shared"),
        "/dev/shm is the pod's:\n{out}"
    );
}

fn volumes_rw_ro_and_named(stage1: &str) {
    let env = Env::new("vol", stage1);
    let rw = env.dir().join("rw");
    let ro = env.dir().join("ro");
    std::fs::create_dir(&rw).unwrap();
    std::fs::create_dir(&ro).unwrap();
    std::fs::write(ro.join("f"), "read me\n").unwrap();
    let (rw_arg, ro_arg) = (
        format!("{}:/rw", rw.display()),
        format!("{}:/ro:ro", ro.display()),
    );
    let out = env.run(&[
        "--net", "none", "--volume", &rw_arg, "--volume", &ro_arg, "--volume", "cache:/cache",
        "busybox", "--", "sh", "-c",
        "echo written > /rw/out; cat /ro/f; touch /ro/nope 2>/dev/null && echo RO-WRITABLE; echo shared > /cache/x",
        "---", "busybox", "--", "sh", "-c", "sleep 1; cat /cache/x",
    ]);
    expect_ok(&out);
    assert!(out.stdout.contains("read me"), "{out}");
    assert!(
        !out.stdout.contains("RO-WRITABLE"),
        "a :ro volume must refuse writes:\n{out}"
    );
    assert!(
        out.stdout.contains("shared"),
        "a named volume is shared by the pod's apps:\n{out}"
    );
    assert_eq!(
        std::fs::read_to_string(rw.join("out")).unwrap(),
        "written\n"
    );
}

fn pod_files_and_flags(stage1: &str) {
    let env = Env::new("files", stage1);
    let out = env.run(&[
        "--net",
        "none",
        "--hostname",
        "podhost",
        "--hosts-entry",
        "192.0.2.7=db.example",
        "--dns",
        "192.0.2.53",
        "--readonly-rootfs",
        "--caps-remove",
        "NET_RAW",
        "--pids-limit",
        "64",
        "--memory",
        "64m",
        "busybox",
        "--",
        "sh",
        "-c",
        "hostname; cat /etc/hostname; grep db.example /etc/hosts; cat /etc/resolv.conf; \
         touch /rootfs-write 2>/dev/null && echo ROOT-WRITABLE; grep CapBnd /proc/self/status; \
         echo pids=$(cat /sys/fs/cgroup/pids/pids.max); echo mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)",
    ]);
    expect_ok(&out);
    let s = &out.stdout;
    assert!(s.starts_with("podhost\npodhost\n"), "{out}");
    assert!(s.contains("192.0.2.7\tdb.example"), "{out}");
    assert!(s.contains("nameserver 192.0.2.53"), "{out}");
    assert!(!s.contains("ROOT-WRITABLE"), "--readonly-rootfs:\n{out}");
    let bnd = s
        .lines()
        .find(|l| l.starts_with("CapBnd"))
        .unwrap_or_default();
    let mask = u64::from_str_radix(bnd.split_whitespace().nth(1).unwrap_or("0"), 16).unwrap();
    assert_eq!(mask & (1 << 13), 0, "CAP_NET_RAW (13) removed:\n{out}");
    assert_ne!(mask & (1 << 0), 0, "CAP_CHOWN kept:\n{out}");
    assert!(s.contains("pids=64\n"), "--pids-limit applied:\n{out}");
    assert!(
        s.contains(&format!("mem={}\n", 64 << 20)),
        "--memory applied:\n{out}"
    );
}

fn net_none_has_only_loopback(stage1: &str) {
    let env = Env::new("none", stage1);
    let out = env.run(&[
        "--net",
        "none",
        "busybox",
        "--",
        "sh",
        "-c",
        "ls /sys/class/net; ip -o link | grep -c UP",
    ]);
    expect_ok(&out);
    assert_eq!(out.stdout, "lo\n1\n", "only loopback, and it is up:\n{out}");
}

fn seccomp_caps_and_rootfs_flags(stage1: &str) {
    let env = Env::new("sec", stage1);
    let field = |words: &[&str], name: &str| -> String {
        let mut w = vec!["--net", "none"];
        w.extend_from_slice(words);
        w.extend_from_slice(&["busybox", "--", "grep", name, "/proc/self/status"]);
        let out = env.run(&w);
        expect_ok(&out);
        out.stdout
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(field(&[], "Seccomp:"), "2", "the default profile filters");
    assert_eq!(field(&["--seccomp", "unconfined"], "Seccomp:"), "0");
    assert_eq!(
        field(&["--caps-retain", "CHOWN,KILL"], "CapBnd:"),
        "0000000000000021"
    );
    // --no-overlay: a copy of the image, writable, gone with the pod.
    let out = env.run(&[
        "--net",
        "none",
        "--no-overlay",
        "busybox",
        "--",
        "sh",
        "-c",
        "echo x > /new && cat /new",
    ]);
    expect_ok(&out);
    assert_eq!(out.stdout, "x\n");
    // --net host: the host's interfaces.
    let out = env.run(&["--net", "host", "busybox", "--", "ls", "/sys/class/net"]);
    expect_ok(&out);
    let host: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for h in host
        .iter()
        .filter(|h| !h.starts_with("veth") && !h.starts_with("hoist"))
    {
        assert!(
            out.stdout.lines().any(|l| l == h),
            "{h} missing in --net host:\n{out}"
        );
    }
}
