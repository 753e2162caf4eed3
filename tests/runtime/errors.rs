//! Bad input to `create`: each gets exit status 1, one clear line on stderr, and leaves
//! no state dir, no cgroup and no process behind (DESIGN.md, rule 5).

use std::fs;

use serde_json::json;

use crate::support::{alive, cgroup_dirs, exec, expect_error, rt_cmd, Ctr};

/// Creates `c` expecting failure with `needle` in the message, then checks the leftovers.
fn create_fails(c: &Ctr, needle: &str) {
    let out = c.create();
    expect_error(&out, needle);
    c.assert_failed_create_left_nothing();
}

#[test]
fn invalid_ids() {
    let c = Ctr::new("badid", &["true"]);
    for bad in ["", "/", "..", "a/b"] {
        let cmd = rt_cmd(&c.rt, &["create", "--bundle", c.bundle_str(), bad]);
        let out = exec(cmd, None);
        expect_error(&out, "");
        assert!(
            out.stderr.contains("id"),
            "error for id {bad:?} should say so:\n{out}"
        );
        c.assert_failed_create_left_nothing();
    }
}

#[test]
fn duplicate_id_keeps_the_first() {
    let c = Ctr::new("dup", &["sleep", "30"]);
    c.create_ok();
    let pid = c.pid();
    let pid_file = fs::read_to_string(c.pid_file()).expect("read pid file");

    let out = c.create();
    expect_error(&out, "exists");

    let st = c.state();
    assert_eq!(
        st["status"], "created",
        "first container after the duplicate: {st}"
    );
    assert_eq!(st["pid"].as_i64(), Some(pid), "{st}");
    assert!(
        alive(pid),
        "the duplicate create killed the first container's init"
    );
    assert!(
        !cgroup_dirs(&c.cgroup()).is_empty(),
        "the duplicate create removed the first container's cgroup"
    );
    // The pid file belongs to the first (the second create was given the same path):
    // a create that fails must not rewrite it.
    assert_eq!(
        fs::read_to_string(c.pid_file()).unwrap_or_default(),
        pid_file
    );
    c.start_ok();
    assert_eq!(c.status(), "running");
}

#[test]
fn missing_config_json() {
    let c = Ctr::new("noconfig", &["true"]);
    fs::remove_file(c.bundle.path().join("config.json")).expect("remove config.json");
    create_fails(&c, "config.json");
}

#[test]
fn malformed_config_json() {
    let c = Ctr::new("badjson", &["true"]);
    fs::write(
        c.bundle.path().join("config.json"),
        "{\"ociVersion\": \"1.2.0\", ",
    )
    .expect("write config.json");
    create_fails(&c, "config");
}

#[test]
fn missing_rootfs() {
    let c = Ctr::new("norootfs", &["true"]);
    fs::remove_dir_all(c.bundle.rootfs()).expect("remove rootfs");
    create_fails(&c, "rootfs");
}

#[test]
fn unknown_executable() {
    let c = Ctr::new("noexe", &["nope"]);
    create_fails(&c, "exec: \"nope\": executable file not found in $PATH");
}

#[test]
fn terminal_without_console_socket() {
    let mut c = Ctr::new("noconsole", &["true"]);
    c.config()["process"]["terminal"] = json!(true);
    c.write();
    create_fails(&c, "console");
}

/// Root here lacks CAP_SYS_RESOURCE (HOST.md): a hard limit above the current one
/// cannot be set, and the runtime must say so rather than start with less.
#[test]
fn rlimit_above_hard_limit() {
    let mut c = Ctr::new("rlimit", &["true"]);
    c.config()["process"]["rlimits"] =
        json!([{"type": "RLIMIT_NOFILE", "hard": 1_048_576, "soft": 1_048_576}]);
    c.write();
    create_fails(&c, "rlimit");
}

/// Same for a negative oom_score_adj without CAP_SYS_RESOURCE.
#[test]
fn negative_oom_score_adj() {
    let mut c = Ctr::new("oomadj", &["true"]);
    c.config()["process"]["oomScoreAdj"] = json!(-500);
    c.write();
    create_fails(&c, "oom");
}

#[test]
fn unknown_flag() {
    let c = Ctr::new("badflag", &["true"]);
    let out = c.create_with(&["--no-such-flag"]);
    assert_eq!(out.code, Some(1), "{out}");
    c.assert_failed_create_left_nothing();
}
