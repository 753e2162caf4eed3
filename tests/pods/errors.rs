//! Bad input: one clear error line, exit status 1, and no pod directory, mount or
//! network state left behind.

use crate::common::run::expect_error;
use crate::support::{free_port, links, Env};

fn assert_nothing_left(env: &Env) {
    assert!(
        env.pod_dirs().is_empty(),
        "pod directories left: {:?}",
        env.pod_dirs()
    );
    let mounts = crate::support::mounts_under(env.dir());
    assert!(mounts.is_empty(), "mounts left: {mounts:?}");
}

#[test]
fn unknown_image() {
    let env = Env::new("err-image", "hoist");
    let out = env.run(&["--net", "none", "--pull", "never", "no-such-image"]);
    expect_error(&out, "no-such-image");
    let out = env.run(&["--net", "none", "oci:/nonexistent/layout"]);
    expect_error(&out, "/nonexistent/layout");
    assert_nothing_left(&env);
}

#[test]
fn bad_flags() {
    let env = Env::new("err-flags", "hoist");
    for (words, needle) in [
        (&["--bogus", "busybox"][..], "--bogus"),
        (&["--net", "none"][..], "no image"),
        (&["--port", "70000:80", "busybox"][..], "--port"),
        (&["--exec", "/bin/true", "busybox"][..], "after the image"),
        (
            &["--stage1", "/no/such/runtime", "busybox"][..],
            "/no/such/runtime",
        ),
        (
            &["--net", "none", "--name", "bad/name", "busybox"][..],
            "bad name",
        ),
        (
            &[
                "--net",
                "none",
                "busybox",
                "--user",
                "nosuchuser",
                "--exec",
                "/bin/true",
            ][..],
            "nosuchuser",
        ),
        (
            &["--net", "none", "--seccomp", "/no/profile.json", "busybox"][..],
            "/no/profile.json",
        ),
    ] {
        let mut args = vec!["run"];
        args.extend_from_slice(words);
        let out = env.hoist(&args);
        expect_error(&out, needle);
        assert_nothing_left(&env);
    }
}

#[test]
fn missing_volume_source() {
    let env = Env::new("err-vol", "hoist");
    let out = env.run(&[
        "--net",
        "none",
        "--volume",
        "/no/such/dir:/data",
        "busybox",
        "--exec",
        "/bin/true",
    ]);
    expect_error(&out, "/no/such/dir");
    assert_nothing_left(&env);
}

#[test]
fn port_already_taken() {
    let mut env = Env::new("err-port", "hoist");
    let net = env.network("hoist-test-errport", 61);
    let port = free_port();
    let _holder = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let before = links();
    let spec = format!("127.0.0.1:{port}:80");
    let out = env.run(&[
        "--net",
        &net,
        "--port",
        &spec,
        "busybox",
        "--exec",
        "/bin/true",
    ]);
    expect_error(&out, &format!("127.0.0.1:{port}/tcp is already taken"));
    assert_nothing_left(&env);
    assert_eq!(before, links(), "no interface made");
}

#[test]
fn unknown_network_and_failing_plugin() {
    let mut env = Env::new("err-net", "hoist");
    let out = env.run(&["--net", "nosuchnet", "busybox", "--exec", "/bin/true"]);
    expect_error(&out, "nosuchnet");
    assert_nothing_left(&env);
    // A network whose IPAM cannot serve: ADD fails half-way, and what it did is undone.
    let net = env.network("hoist-test-badipam", 62);
    let path = env.net_dir.path().join(format!("{net}.conflist"));
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("10.88.62.0/24", "10.88.62.0/33");
    std::fs::write(&path, text).unwrap();
    let out = env.run(&["--net", &net, "busybox", "--exec", "/bin/true"]);
    expect_error(&out, "cni add");
    assert_nothing_left(&env);
}

#[test]
fn failing_stage1_leaves_nothing() {
    let env = Env::new("err-stage1", "hoist");
    // The stage1 refuses the app (no such binary in the image): create fails.
    let out = env.run(&["--net", "none", "busybox", "--exec", "/no/such/binary"]);
    assert_eq!(out.code.map(|c| c != 0), Some(true), "{out}");
    assert!(out.stderr.contains("/no/such/binary"), "{out}");
    assert_nothing_left(&env);
    // Detached: the supervisor's error reaches `run --detach`, which prints no UUID.
    let out = env.run(&[
        "--detach",
        "--net",
        "none",
        "busybox",
        "--exec",
        "/no/such/binary",
    ]);
    expect_error(&out, "/no/such/binary");
    assert!(out.stdout.is_empty(), "{out}");
    assert_nothing_left(&env);
}
