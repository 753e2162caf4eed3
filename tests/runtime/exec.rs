//! Running the runtime from a test: every call within a time limit, its stdout and
//! stderr in files rather than pipes (a container inherits the stdio of `create` and
//! `run --detach`, so a pipe would not see EOF while it lives), and the two verdicts
//! every test uses: success, or runc's exit status 1 with one clear error line.

use std::fmt;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::Runtime;

/// A runtime command that takes longer than this is stuck.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a container may take to reach a status, or a process to vanish.
pub const SETTLE: Duration = Duration::from_secs(10);

/// What a runtime command did.
pub struct Out {
    pub what: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` exited {:?}\n--- stdout\n{}--- stderr\n{}---",
            self.what, self.code, self.stdout, self.stderr
        )
    }
}

fn read_from_start(mut f: &File) -> String {
    let mut s = String::new();
    let _ = f.seek(SeekFrom::Start(0));
    let _ = f.read_to_string(&mut s);
    s
}

/// Runs `cmd` to its end within `CMD_TIMEOUT` (killing it and failing otherwise), its
/// stdout to `stdout` (a fresh anonymous file if None) and stderr to a fresh file.
pub fn exec(mut cmd: Command, stdout: Option<File>) -> Out {
    let what = format!("{cmd:?}");
    let out = match stdout {
        Some(f) => f,
        None => tempfile::tempfile().expect("stdout file"),
    };
    let err = tempfile::tempfile().expect("stderr file");
    cmd.stdout(out.try_clone().expect("dup stdout"));
    cmd.stderr(err.try_clone().expect("dup stderr"));
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let deadline = Instant::now() + CMD_TIMEOUT;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for runtime") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what} still running after {CMD_TIMEOUT:?}; stderr so far:\n{}",
                read_from_start(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Out {
        what,
        code: status.code(),
        stdout: read_from_start(&out),
        stderr: read_from_start(&err),
    }
}

/// A runtime command, with the private `--root` and stdin from /dev/null.
pub fn rt_cmd(rt: &Runtime, args: &[&str]) -> Command {
    let mut c = rt.command();
    c.args(args);
    c
}

/// A file for a command's output that `exec` can read back: read-write, truncated.
pub fn output_file(path: &Path) -> File {
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap_or_else(|e| panic!("create {}: {e}", path.display()))
}

/// Runs the runtime with `args` (global flags first, then the command).
pub fn rt_run(rt: &Runtime, args: &[&str]) -> Out {
    exec(rt_cmd(rt, args), None)
}

pub fn expect_ok(out: &Out) {
    assert!(out.success(), "expected success:\n{out}");
}

/// The failure every bad input must give: exit status 1 and one line on stderr,
/// containing `needle` (case-insensitively).
pub fn expect_error(out: &Out, needle: &str) {
    assert_eq!(out.code, Some(1), "expected exit status 1:\n{out}");
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "expected one error line on stderr:\n{out}");
    // runc's text log quotes msg, escaping the quotes inside it.
    let line = lines[0].replace("\\\"", "\"").to_lowercase();
    assert!(
        line.contains(&needle.to_lowercase()),
        "error line should mention {needle:?}:\n{out}"
    );
}

/// Polls `f` until it returns Some, for at most `limit`.
pub fn poll<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Container output with pty line endings and surrounding blanks normalised.
pub fn lines(s: &str) -> Vec<String> {
    s.replace('\r', "")
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}
