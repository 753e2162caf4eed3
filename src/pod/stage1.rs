//! The stage1: any OCI runtime with runc's command line (hoist-runtime, runc, crun),
//! driven only through it (DESIGN.md: stage0 never calls stage1's Rust API). Each pod
//! gives its stage1 a `--root` of its own inside the pod directory and a JSON `--log`,
//! whose last `error` line becomes the message when a call fails (as containerd does).

use std::fs::File;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{io_err, PodError};
use crate::sys;

/// A runtime binary and the state root it uses for one pod.
pub struct Stage1 {
    pub bin: PathBuf,
    pub root: PathBuf,
    pub log: PathBuf,
    /// Whether `bin` is the hoist-runtime `--stage1 hoist` names.
    own: bool,
}

/// Finds the runtime `--stage1` names: `hoist` (hoist-runtime beside the hoist binary,
/// else on PATH), `runc` or `crun` (on PATH), or a path.
pub fn resolve(name: &str) -> Result<PathBuf, PodError> {
    let not_found = || PodError::Stage1NotFound(name.to_owned());
    if name.contains('/') {
        let p = std::path::absolute(name).map_err(|_| not_found())?;
        return if is_executable(&p) {
            Ok(p)
        } else {
            Err(not_found())
        };
    }
    let bin = match name {
        "hoist" | "hoist-runtime" => {
            if let Some(beside) = std::env::current_exe()
                .ok()
                .and_then(|e| e.parent().map(|d| d.join("hoist-runtime")))
                .filter(|p| is_executable(p))
            {
                return Ok(beside);
            }
            "hoist-runtime"
        }
        "runc" | "crun" => name,
        _ => return Err(not_found()),
    };
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(bin))
        .find(|p| is_executable(p))
        .ok_or_else(not_found)
}

/// The hoist-runtime `--stage1 hoist` names, found once per process (the supervisor
/// and teardown each make a `Stage1`).
fn own_runtime() -> Option<&'static PathBuf> {
    static OWN: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    OWN.get_or_init(|| resolve("hoist").ok()).as_ref()
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

const TMPFS_MAGIC: i64 = 0x0102_1994;

/// Makes `root` (a pod's stage1 root, `/run/hoist/<uuid>`), first putting /run/hoist on
/// a tmpfs where it is not on one: /run is a tmpfs on any systemd host, but these VMs
/// keep it on the root ext4, where each of the stage1's dozen file operations a pod can
/// wait for the writeback under way (hundreds of microseconds each), and where a reboot
/// would leave stale state. Only an empty /run/hoist (a stale cache aside) gets the
/// tmpfs, so that no pod's state is hidden; every hoist makes its pod's directory there
/// under the same flock of the directory underneath, so none can appear between the
/// look and the mount. Mounting is best effort: where it is refused, nothing changes.
pub fn make_root(root: &Path) -> Result<(), PodError> {
    use std::os::fd::AsFd;
    let top = Path::new(super::STAGE1_ROOT);
    let on_tmpfs =
        || File::open(top).is_ok_and(|f| sys::fs_type(f.as_fd()).is_ok_and(|t| t == TMPFS_MAGIC));
    let make =
        || std::fs::create_dir_all(root).map_err(io_err(format!("create `{}`", root.display())));
    if on_tmpfs() {
        return make();
    }
    std::fs::create_dir_all(top).map_err(io_err(format!("create `{}`", top.display())))?;
    let under = File::open(top).map_err(io_err(format!("open `{}`", top.display())))?;
    sys::flock(under.as_fd(), true, true).map_err(io_err(format!("lock `{}`", top.display())))?;
    // Another hoist may have mounted it while we waited.
    if !on_tmpfs() {
        let empty = std::fs::read_dir(top)
            .is_ok_and(|mut entries| entries.all(|e| e.is_ok_and(|e| e.file_name() == ".cache")));
        if empty {
            let _ = sys::mount(
                Some("hoist-stage1".as_ref()),
                top,
                Some("tmpfs"),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                Some("mode=0700"),
            );
        }
    }
    make()
}

/// Reads every datagram waiting on a non-blocking notify socket (fds passed with them,
/// a BARRIER=1's pipe, are closed by the kernel as no room is given for them);
/// whether one said READY=1.
pub fn drain_ready(sock: &UnixDatagram) -> bool {
    let mut buf = [0u8; 4096];
    let mut ready = false;
    while let Ok(n) = sock.recv(&mut buf) {
        ready |= buf[..n].split(|b| *b == b'\n').any(|l| l == b"READY=1");
    }
    ready
}

/// Whether the process in `pid_file` has ended (gone, or a zombie nobody reaped).
fn app_ended(pid_file: &Path) -> bool {
    let Some(pid) = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
    else {
        return false;
    };
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
        Err(_) => true,
    }
}

/// Where an app's stdout and stderr go.
pub enum Output<'a> {
    /// hoist's own (a foreground `run`).
    Inherit,
    /// A log file (a detached pod).
    File(&'a File),
}

impl Stage1 {
    pub fn new(bin: PathBuf, pod: &super::Pod) -> Stage1 {
        Stage1 {
            own: own_runtime().is_some_and(|own| *own == bin),
            bin,
            root: pod.stage1_root(),
            log: pod.stage1_log(),
        }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(&self.log)
            .arg("--log-format")
            .arg("json")
            // runc and crun would proxy sd_notify themselves and hold `start` until
            // the app sends READY=1; the supervisor speaks to systemd instead.
            .env_remove("NOTIFY_SOCKET")
            // hoist-runtime's compiled seccomp programs, shared by every pod (in a
            // root of the pod's own the cache would start cold every time).
            .env(
                "HOIST_RUNTIME_CACHE",
                Path::new(super::STAGE1_ROOT).join(".cache"),
            );
        // hoist-runtime resets, for the container, every signal it was started with
        // ignored or blocked: std may then spawn it with posix_spawn (a vfork, not a
        // copy of our page tables; ~150 page faults a pod fewer), which leaves glibc's
        // internal signals ignored in the child. Other runtimes pass what they got on
        // to the apps: theirs is cleaned between fork and exec.
        if !self.own {
            sys::clean_signals_on_exec(&mut c);
        }
        c
    }

    /// The last `error` message of the runtime's JSON log, or what it printed.
    fn failure(&self, stderr: &[u8]) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let from_log = log
            .lines()
            .rev()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["level"] == "error" || v["level"] == "fatal")
            .and_then(|v| v["msg"].as_str().map(str::to_owned));
        from_log.unwrap_or_else(|| {
            let s = String::from_utf8_lossy(stderr).trim().replace('\n', " ");
            if s.is_empty() {
                "it failed without saying why".into()
            } else {
                s
            }
        })
    }

    /// `run --detach --bundle B --pid-file B/pid ID` (create and start in one call:
    /// one runtime process less per app); returns the container's pid. The app's
    /// stdio is the runtime's (runc's pass-through mode): stdin /dev/null, stdout and
    /// stderr to `out`.
    ///
    /// With `notify`, the runtime gets `NOTIFY_SOCKET` = that socket: it passes a socket
    /// into the app and forwards the app's READY=1 there (runc's, crun's and
    /// hoist-runtime's sd_notify passthrough), and may wait until then. The socket is
    /// drained while the runtime runs, as systemd would (a runtime that sends a
    /// BARRIER=1 waits for the passed fd to be closed); `ready` is set when READY=1
    /// came.
    pub fn run_detached(
        &self,
        app: &str,
        id: &str,
        bundle: &Path,
        out: &Output<'_>,
        notify: Option<(&Path, &UnixDatagram, &mut bool)>,
    ) -> Result<i32, PodError> {
        let pid_file = bundle.join("pid");
        let mut c = self.command();
        let mut notify = notify;
        if let Some((path, _, _)) = &notify {
            c.env("NOTIFY_SOCKET", path);
        }
        c.arg("run")
            .arg("--detach")
            .arg("--bundle")
            .arg(bundle)
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(id)
            .stdin(Stdio::null());
        let (stdout, stderr) = match out {
            Output::Inherit => (Stdio::inherit(), Stdio::inherit()),
            Output::File(f) => (
                Stdio::from(f.try_clone().map_err(io_err("share the pod log"))?),
                Stdio::from(f.try_clone().map_err(io_err("share the pod log"))?),
            ),
        };
        let mut child = c
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(io_err(format!("run stage1 `{}`", self.bin.display())))?;
        let status = loop {
            let Some((_, sock, ready)) = &mut notify else {
                break child.wait();
            };
            **ready |= drain_ready(sock);
            match child.try_wait() {
                Ok(Some(st)) => break Ok(st),
                // runc 1.1 waits for READY=1 even after the app has ended without
                // sending it: then the runtime is done for, and the app's end is
                // what the supervisor will see (runc's zombie child comes to it).
                Ok(None) if app_ended(&pid_file) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Ok(std::process::ExitStatus::default());
                }
                Ok(None) => std::thread::sleep(std::time::Duration::from_millis(2)),
                Err(e) => break Err(e),
            }
        }
        .map_err(io_err(format!("wait for stage1 `{}`", self.bin.display())))?;
        if let Some((_, sock, ready)) = &mut notify {
            **ready |= drain_ready(sock);
        }
        if !status.success() {
            return Err(PodError::Stage1 {
                step: "run",
                app: app.to_owned(),
                message: self.failure(b""),
            });
        }
        let text = std::fs::read_to_string(&pid_file)
            .map_err(io_err(format!("read `{}`", pid_file.display())))?;
        text.trim().parse().map_err(|_| PodError::Stage1 {
            step: "run",
            app: app.to_owned(),
            message: format!("bad pid file `{}`", pid_file.display()),
        })
    }

    /// `delete --force ID`; a container the runtime does not know is already gone.
    pub fn delete(&self, app: &str, id: &str) -> Result<(), PodError> {
        match self.delete_start(id)? {
            Some(child) => self.delete_wait(app, child).map(drop),
            None => Ok(()),
        }
    }

    /// Whether a `delete` that succeeded leaves none of the container's cgroups behind:
    /// hoist-runtime's fails unless it removed them from every hierarchy; runc and
    /// crun may leave one where they never manage it (crun: a v1 hugetlb hierarchy).
    pub fn removes_cgroups(&self) -> bool {
        self.own
    }

    /// Starts `delete --force ID` (teardown goes on meanwhile); `None` when the runtime
    /// has no state for it.
    pub fn delete_start(&self, id: &str) -> Result<Option<Child>, PodError> {
        if !self.root.join(id).exists() {
            return Ok(None);
        }
        let mut c = self.command();
        c.arg("delete")
            .arg("--force")
            .arg(id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c.spawn()
            .map(Some)
            .map_err(io_err(format!("run stage1 `{}`", self.bin.display())))
    }

    /// Waits for a `delete` [`Stage1::delete_start`] started: `Ok(true)` when the
    /// runtime deleted the container, `Ok(false)` when it no longer knew it.
    pub fn delete_wait(&self, app: &str, child: Child) -> Result<bool, PodError> {
        let out = child
            .wait_with_output()
            .map_err(io_err(format!("wait for stage1 `{}`", self.bin.display())))?;
        if out.status.success() {
            return Ok(true);
        }
        let message = self.failure(&out.stderr);
        if message.contains("does not exist") {
            return Ok(false);
        }
        Err(PodError::Stage1 {
            step: "delete",
            app: app.to_owned(),
            message,
        })
    }

    /// `exec ID ARGS…` with hoist's stdio; returns the command's exit status.
    pub fn exec(&self, id: &str, args: &[String]) -> Result<i32, PodError> {
        let mut c = self.command();
        c.arg("exec").arg(id).args(args);
        let status = c
            .status()
            .map_err(io_err(format!("run stage1 `{}`", self.bin.display())))?;
        Ok(status.code().unwrap_or_else(|| {
            use std::os::unix::process::ExitStatusExt;
            128 + status.signal().unwrap_or(0)
        }))
    }
}
