//! `--log FILE` and `--log-format text|json`: runc's log lines. containerd shows the
//! last `error` line of the JSON log to its user, so errors go there as well as to
//! stderr.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

struct Logger {
    file: Option<File>,
    json: bool,
    debug: bool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Sets the log up once, at start (a log that cannot be opened is reported on stderr
/// and the command goes on without it).
pub fn init(path: Option<&Path>, json: bool, debug: bool) {
    let file = path.and_then(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .map_err(|e| eprintln!("hoist-runtime: open log `{}`: {e}", p.display()))
            .ok()
    });
    let _ = LOGGER.set(Logger { file, json, debug });
}

fn write(level: &str, msg: &str) {
    let Some(l) = LOGGER.get() else { return };
    let Some(mut f) = l.file.as_ref() else { return };
    let line = if l.json {
        serde_json::json!({"level": level, "msg": msg, "time": crate::time::rfc3339_now()})
            .to_string()
            + "\n"
    } else {
        format!(
            "time=\"{}\" level={level} msg=\"{}\"\n",
            crate::time::rfc3339_now(),
            msg.replace('"', "\\\"")
        )
    };
    let _ = f.write_all(line.as_bytes());
}

/// An error that ends the command: stderr and the log.
pub fn error(msg: &str) {
    write("error", msg);
    eprintln!("hoist-runtime: {msg}");
}

/// A warning (unknown capability, failed poststart hook): the log, or stderr without one.
pub fn warn(msg: &str) {
    match LOGGER.get() {
        Some(Logger { file: Some(_), .. }) => write("warning", msg),
        _ => eprintln!("hoist-runtime: warning: {msg}"),
    }
}

/// Debug lines, with `--debug` only.
pub fn debug(msg: &str) {
    if LOGGER.get().is_some_and(|l| l.debug) {
        write("debug", msg);
    }
}

/// An error and its sources on one line: "outer: inner: errno text".
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.ends_with(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}
