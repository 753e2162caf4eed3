//! What every case uses: the runtime under test with a private `--root`, timeouts on
//! every command, cleanup that leaves nothing behind, and the `Stop` a case returns
//! to fail or skip.

use std::fs::File;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{self, Bundle};

/// Why a case stopped before passing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    Fail(String),
    /// The host lacks something the case needs.
    Skip(String),
}

pub type CaseResult = Result<(), Stop>;

/// Fails the case with a message.
pub fn fail<T>(msg: impl Into<String>) -> Result<T, Stop> {
    Err(Stop::Fail(msg.into()))
}

/// Fails the case unless `cond` holds.
pub fn ensure(cond: bool, msg: impl FnOnce() -> String) -> CaseResult {
    if cond {
        Ok(())
    } else {
        fail(msg())
    }
}

/// Polls `cond` every 10 ms for up to 10 s.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) -> CaseResult {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        if Instant::now() > deadline {
            return fail(format!("timed out after 10 s waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// A unique container id: cgroups are named after ids, so two runs (of two cases, or
/// of one case against two runtimes) must never share one.
pub fn new_id(case: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "hc-{}-{}-{}",
        case.replace('_', "-"),
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// What a command did.
#[derive(Debug)]
pub struct Out {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(&self) -> bool {
        self.status.success()
    }

    /// The status and stderr, for messages.
    pub fn describe(&self) -> String {
        let err = self.stderr.trim();
        let tail: String = err
            .chars()
            .rev()
            .take(1500)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!(
            "{} {}",
            self.status,
            if tail.is_empty() {
                "(no stderr)".into()
            } else {
                format!("stderr: {tail}")
            }
        )
    }
}

/// Runs a command with stdout and stderr going to files (a container that inherits
/// them may outlive the command, so pipes could hang), killing it after `timeout`.
pub fn exec(cmd: Command, timeout: Duration) -> Result<Out, Stop> {
    let out = tempfile::tempfile().map_err(|e| Stop::Fail(format!("tempfile: {e}")))?;
    exec_to(cmd, out, timeout)
}

/// Like `exec`, with stdout going to `out` (a file the caller keeps reading after
/// the command ended: a container `create` made writes there until it exits).
pub fn exec_to(mut cmd: Command, mut out: File, timeout: Duration) -> Result<Out, Stop> {
    let sys = |what: &str, e: std::io::Error| Stop::Fail(format!("{what}: {e}"));
    let mut err = tempfile::tempfile().map_err(|e| sys("tempfile", e))?;
    cmd.stdout(out.try_clone().map_err(|e| sys("dup", e))?);
    cmd.stderr(err.try_clone().map_err(|e| sys("dup", e))?);
    let desc = format!("{cmd:?}");
    let mut child = cmd.spawn().map_err(|e| sys(&format!("spawn {desc}"), e))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().map_err(|e| sys("wait", e))? {
            Some(s) => break s,
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                let mut text = String::new();
                let _ = err.rewind().and_then(|()| err.read_to_string(&mut text));
                return fail(format!(
                    "timed out after {timeout:?}: {desc}; stderr: {}",
                    text.trim()
                ));
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    let read = |f: &mut File| {
        let mut s = String::new();
        let mut b = Vec::new();
        if f.rewind().and_then(|()| f.read_to_end(&mut b)).is_ok() {
            s = String::from_utf8_lossy(&b).into_owned();
        }
        s
    };
    Ok(Out {
        status,
        stdout: read(&mut out),
        stderr: read(&mut err),
    })
}

/// The runtime under test, with a private `--root`. Deletes (with --force, under a
/// timeout) every container it made when dropped, whether the case passed or not.
pub struct Rt {
    pub bin: PathBuf,
    pub root: tempfile::TempDir,
    ids: Mutex<Vec<String>>,
}

/// How long one runtime command may take.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(30);

impl Rt {
    pub fn new(bin: &Path) -> Self {
        Rt {
            bin: bin.to_path_buf(),
            root: common::scratch("root"),
            ids: Mutex::new(Vec::new()),
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root")
            .arg(self.root.path())
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// Runs `RUNTIME --root R args…`; remembers the id of create/run for cleanup.
    pub fn run(&self, args: &[&str]) -> Result<Out, Stop> {
        if let (Some(&("create" | "run")), Some(id)) = (args.first(), args.last()) {
            if let Ok(mut ids) = self.ids.lock() {
                ids.push((*id).to_owned());
            }
        }
        exec(self.command(args), CMD_TIMEOUT)
    }

    /// Remembers a container id for cleanup (for commands not made with `run`).
    pub fn remember(&self, id: &str) {
        if let Ok(mut ids) = self.ids.lock() {
            ids.push(id.to_owned());
        }
    }

    /// Like `run`, failing the case unless the command succeeded.
    pub fn ok(&self, args: &[&str]) -> Result<Out, Stop> {
        let out = self.run(args)?;
        if !out.ok() {
            return fail(format!("`{}` failed: {}", args.join(" "), out.describe()));
        }
        Ok(out)
    }

    pub fn create(&self, bundle: &Bundle, id: &str) -> Result<Out, Stop> {
        self.ok(&["create", "--bundle", &bundle.path().to_string_lossy(), id])
    }

    /// The `state` JSON of a container.
    pub fn state(&self, id: &str) -> Result<Value, Stop> {
        let out = self.ok(&["state", id])?;
        serde_json::from_str(&out.stdout)
            .or_else(|e| fail(format!("state is not JSON ({e}): {:?}", out.stdout)))
    }

    /// Polls `state` until the status is `want`, for up to 10 s.
    pub fn wait_status(&self, id: &str, want: &str) -> Result<Value, Stop> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let st = self.state(id)?;
            if st["status"] == want {
                return Ok(st);
            }
            if Instant::now() > deadline {
                return fail(format!(
                    "status still {} after 10 s, waiting for {want}",
                    st["status"]
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the runtime has anything left under its --root for `id`.
    pub fn leftover(&self, id: &str) -> bool {
        self.root.path().join(id).exists()
    }
}

impl Drop for Rt {
    fn drop(&mut self) {
        self.cleanup();
    }
}

impl Rt {
    /// Deletes (with --force) every container this Rt made, kills what a failed
    /// delete left, and removes their empty cgroups. Drop does it too; a case calls it
    /// itself when the host must be clean before the case ends (a cgroup controller
    /// goes back to v1 only once no cgroup uses it on v2).
    pub fn cleanup(&self) {
        let mut ids: Vec<String> = self.ids.lock().map(|v| v.clone()).unwrap_or_default();
        if let Ok(rd) = std::fs::read_dir(self.root.path()) {
            ids.extend(
                rd.flatten()
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().into_owned()),
            );
        }
        ids.sort();
        ids.dedup();
        for id in ids {
            let _ = exec(
                self.command(&["delete", "--force", &id]),
                Duration::from_secs(10),
            );
        }
        self.kill_strays();
        // Empty cgroups a failed case left (rmdir fails on a busy one, which is fine).
        for id in self.ids.lock().map(|v| v.clone()).unwrap_or_default() {
            for d in cgroups_named(&id) {
                let _ = std::fs::remove_dir(&d);
            }
        }
        if let Ok(mut ids) = self.ids.lock() {
            ids.clear();
        }
    }

    /// Last resort for a runtime under development: a container init that a failed
    /// or hung `delete --force` left alive still runs the runtime's own code, forked
    /// from a command this harness ran, so its cmdline holds this Rt's private
    /// `--root` (a fresh temp dir). Those processes, and only those, get SIGKILL by
    /// pid. (runc's inits exec at once; theirs hold no such cmdline.)
    fn kill_strays(&self) {
        let mut needle = b"--root\0".to_vec();
        needle.extend_from_slice(self.root.path().as_os_str().as_encoded_bytes());
        needle.push(0);
        let Ok(rd) = std::fs::read_dir("/proc") else {
            return;
        };
        for e in rd.flatten() {
            let Some(pid) = e
                .file_name()
                .to_str()
                .and_then(|p| p.parse::<libc::pid_t>().ok())
            else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
                continue;
            };
            if cmdline
                .windows(needle.len())
                .any(|w| w == needle.as_slice())
            {
                eprintln!(
                    "conformance: killing stray runtime process {pid} left under {}",
                    self.root.path().display()
                );
                // SAFETY: kill(2) takes plain integers; the pid was read just now and
                // names a process running this Rt's runtime on this Rt's --root.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

/// Cgroup directories named after `id` (where runc, and runtimes like it, put a
/// container without a `cgroupsPath`): /sys/fs/cgroup/<hierarchy>/<id> and
/// /sys/fs/cgroup/<id>.
pub fn cgroups_named(id: &str) -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join(id))
        .collect();
    dirs.push(root.join(id));
    dirs.retain(|d| d.is_dir());
    dirs
}

/// Fails unless `id` left nothing behind: `state` errors, --root has no entry, no
/// cgroup named after it remains.
pub fn nothing_left(rt: &Rt, id: &str) -> CaseResult {
    let cgroups = cgroups_named(id);
    ensure(cgroups.is_empty(), || {
        format!("cgroups left behind: {cgroups:?}")
    })?;
    let st = rt.run(&["state", id])?;
    ensure(!st.ok(), || {
        format!(
            "`state {id}` still works after the failure: {}",
            st.stdout.trim()
        )
    })?;
    ensure(!rt.leftover(id), || {
        format!("{} left behind", rt.root.path().join(id).display())
    })
}

/// Runs a host command, failing the case if it fails.
pub fn host(cmd: &str, args: &[&str]) -> Result<Out, Stop> {
    let mut c = Command::new(cmd);
    c.args(args).stdin(Stdio::null());
    let out = exec(c, CMD_TIMEOUT)?;
    if !out.ok() {
        return fail(format!("{cmd} {args:?}: {}", out.describe()));
    }
    Ok(out)
}
