//! The command line callers parse: `--version`, `features`, `spec`, `list` and the
//! `--log` JSON lines containerd reads back after a failed create.

use std::fs;

use serde_json::{json, Value};

use crate::common::Runtime;
use crate::support::{exec, expect_ok, rt_cmd, rt_run, Ctr};

#[test]
fn version_first_three_lines() {
    let rt = Runtime::new();
    let out = rt_run(&rt, &["--version"]);
    expect_ok(&out);
    let lines: Vec<&str> = out.stdout.lines().collect();
    // runc 1.1.5 adds `go:` and `libseccomp:` lines after these three.
    assert!(lines.len() >= 3, "{out}");
    assert!(lines[0].contains(" version "), "first line: {out}");
    assert!(lines[1].starts_with("commit: "), "second line: {out}");
    let spec = lines[2]
        .strip_prefix("spec: ")
        .unwrap_or_else(|| panic!("third line: {out}"));
    assert!(spec.starts_with("1."), "spec version: {out}");
}

#[test]
fn features_is_json() {
    let rt = Runtime::new();
    let out = rt_run(&rt, &["features"]);
    expect_ok(&out);
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("features is not JSON ({e}):\n{out}"));
    let max = v["ociVersionMax"].as_str().unwrap_or_default();
    assert!(max.starts_with("1."), "ociVersionMax: {v}");
    let min = v["ociVersionMin"].as_str().unwrap_or_default();
    assert!(min.starts_with("1."), "ociVersionMin: {v}");
}

#[test]
fn spec_writes_a_usable_config_and_refuses_to_overwrite() {
    let c = Ctr::new("spec", &["true"]);
    let config = c.bundle.path().join("config.json");
    fs::remove_file(&config).expect("remove config.json");

    expect_ok(&c.rt(&["spec", "--bundle", c.bundle_str()]));
    let text = fs::read_to_string(&config).expect("spec wrote no config.json");
    let mut v: Value = serde_json::from_str(&text).expect("spec's config.json is JSON");
    assert!(v["ociVersion"].is_string(), "{v}");
    assert_eq!(v["root"]["path"], "rootfs", "{v}");

    v["process"]["terminal"] = json!(false);
    v["process"]["args"] = json!(["sh", "-c", "echo spec-ok"]);
    v["linux"]["cgroupsPath"] = json!(c.cgroup());
    let edited = serde_json::to_string_pretty(&v).expect("serialize");
    fs::write(&config, &edited).expect("write config.json");

    let out = c.rt(&["spec", "--bundle", c.bundle_str()]);
    assert_eq!(
        out.code,
        Some(1),
        "spec over an existing config.json:\n{out}"
    );
    assert_eq!(
        fs::read_to_string(&config).expect("read config.json"),
        edited,
        "spec overwrote config.json"
    );

    assert_eq!(c.run_ok(), "spec-ok\n");
    c.assert_gone();
}

#[test]
fn list_shows_created_container() {
    let c = Ctr::new("list", &["sleep", "30"]);
    c.create_ok();
    let pid = c.pid();

    let out = c.rt(&["list"]);
    expect_ok(&out);
    let mut lines = out.stdout.lines();
    let header = lines.next().unwrap_or_default();
    assert!(
        header.starts_with("ID") && header.contains("STATUS"),
        "{out}"
    );
    let row = lines
        .find(|l| l.split_whitespace().next() == Some(c.id.as_str()))
        .unwrap_or_else(|| panic!("no row for {}:\n{out}", c.id));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cols.get(1),
        Some(&pid.to_string().as_str()),
        "pid column: {row}"
    );
    assert_eq!(cols.get(2), Some(&"created"), "status column: {row}");
    assert_eq!(cols.get(3), Some(&c.bundle_str()), "bundle column: {row}");

    let out = c.rt(&["list", "--format", "json"]);
    expect_ok(&out);
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("list --format json is not JSON ({e}):\n{out}"));
    let all = v.as_array().unwrap_or_else(|| panic!("not an array: {v}"));
    assert_eq!(all.len(), 1, "{v}");
    let e = &all[0];
    assert_eq!(e["id"], c.id.as_str(), "{e}");
    assert_eq!(e["status"], "created", "{e}");
    assert_eq!(e["pid"].as_i64(), Some(pid), "{e}");
    assert_eq!(e["bundle"], c.bundle_str(), "{e}");

    let out = c.rt(&["list", "-q"]);
    expect_ok(&out);
    assert_eq!(out.stdout.trim(), c.id, "{out}");

    c.start_ok();
    let out = c.rt(&["list", "--format", "json"]);
    let v: Value = serde_json::from_str(&out.stdout).expect("list JSON");
    assert_eq!(v[0]["status"], "running", "{v}");
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
fn is_rfc3339(t: &str) -> bool {
    let b = t.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|s| s.len() == r.len() && s.iter().all(u8::is_ascii_digit))
    };
    if !(digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && matches!(b.get(10), Some(b'T' | b't'))
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19))
    {
        return false;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match b.get(i) {
        Some(b'Z' | b'z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            digits(i + 1..i + 3)
                && b.get(i + 3) == Some(&b':')
                && digits(i + 4..i + 6)
                && i + 6 == b.len()
        }
        _ => false,
    }
}

#[test]
fn rfc3339_checker() {
    assert!(is_rfc3339("2024-01-02T03:04:05Z"));
    assert!(is_rfc3339("2024-01-02T03:04:05.123456789+02:00"));
    assert!(!is_rfc3339("2024-01-02 03:04:05"));
    assert!(!is_rfc3339("2024-01-02T03:04:05"));
}

#[test]
fn log_json_records_a_failed_create() {
    let c = Ctr::new("logjson", &["true"]);
    fs::remove_dir_all(c.bundle.rootfs()).expect("remove rootfs");
    let log = c.io.path().join("log.json");
    let log_s = log.to_str().expect("utf-8 path");
    let args = [
        "--log",
        log_s,
        "--log-format",
        "json",
        "create",
        "--bundle",
        c.bundle_str(),
        &c.id,
    ];
    let out = exec(rt_cmd(&c.rt, &args), None);
    assert_eq!(out.code, Some(1), "{out}");

    let text = fs::read_to_string(&log).expect("no log file written");
    let entries: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("log line {l:?}: {e}")))
        .collect();
    let err = entries
        .iter()
        .find(|e| e["level"] == "error")
        .unwrap_or_else(|| panic!("no error entry in the log:\n{text}"));
    let msg = err["msg"].as_str().unwrap_or_default();
    assert!(!msg.is_empty(), "error entry without msg: {err}");
    let time = err["time"].as_str().unwrap_or_default();
    assert!(is_rfc3339(time), "time is not RFC 3339: {err}");
    c.assert_failed_create_left_nothing();
}
