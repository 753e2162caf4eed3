//! runtimetest: runs as a container's process and checks, from inside, that the
//! runtime applied the container's config.json. It reads the config from
//! `/.runtimetest/config.json` (or argv[1], when that is a file) and, beside it, an optional
//! `expect.json` from the harness (what cannot be known from inside: the host's
//! namespace inodes, which check groups to run). It prints one TAP line per check and
//! exits 0 when all pass, 1 otherwise.
//!
//! `runtimetest notify LINE…` instead sends an sd_notify message (notify.rs).
//!
//! Built static (`-C target-feature=+crt-static`) so it runs in any rootfs.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod caps;
mod cgroupfs;
mod checks;
mod notify;
mod procfs;
mod sys;
mod tap;

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::Value;

use checks::Ctx;
use tap::Tap;

/// Where the harness puts the config copy inside the rootfs.
const DEFAULT_CONFIG: &str = "/.runtimetest/config.json";

fn load(path: &Path) -> Result<Value, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("parse {}: {e}", path.display()))
}

fn main() -> ExitCode {
    if std::env::args_os().nth(1).is_some_and(|a| a == "notify") {
        let lines: Vec<String> = std::env::args_os()
            .skip(2)
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        return notify::main(&lines);
    }
    let mut tap = Tap::new();
    // argv[1] names the config when it is a file; otherwise the arguments are only
    // there for the `process.args` check.
    let config_path = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    let config = match load(&config_path) {
        Ok(v) => v,
        Err(e) => {
            tap.fail("load config", &e);
            tap.finish();
            return ExitCode::FAILURE;
        }
    };
    let expect_path = config_path.with_file_name("expect.json");
    let expect = match std::fs::metadata(&expect_path) {
        Err(e) if e.kind() == ErrorKind::NotFound => Value::Null,
        _ => match load(&expect_path) {
            Ok(v) => v,
            Err(e) => {
                tap.fail("load expect.json", &e);
                Value::Null
            }
        },
    };
    checks::run_all(&Ctx { config, expect }, &mut tap);
    if tap.finish() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
