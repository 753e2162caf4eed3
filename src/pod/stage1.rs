//! The stage1: any OCI runtime with runc's command line (hoist-runtime, runc, crun),
//! driven only through it (DESIGN.md: stage0 never calls stage1's Rust API). Each pod
//! gives its stage1 a `--root` of its own inside the pod directory and a JSON `--log`,
//! whose last `error` line becomes the message when a call fails (as containerd does).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{io_err, PodError};
use crate::sys;

/// A runtime binary and the state root it uses for one pod.
pub struct Stage1 {
    pub bin: PathBuf,
    pub root: PathBuf,
    pub log: PathBuf,
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

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
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
            bin,
            root: pod.stage1_root(),
            log: pod.dir.join("stage1.log"),
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
            .env_remove("NOTIFY_SOCKET");
        sys::unblock_signals_on_exec(&mut c);
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

    fn run(&self, step: &'static str, app: &str, mut c: Command) -> Result<(), PodError> {
        let out = c
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(io_err(format!("run stage1 `{}`", self.bin.display())))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(PodError::Stage1 {
                step,
                app: app.to_owned(),
                message: self.failure(&out.stderr),
            })
        }
    }

    /// `run --detach --bundle B --pid-file B/pid ID` (create and start in one call:
    /// one runtime process less per app); returns the container's pid. The app's
    /// stdio is the runtime's (runc's pass-through mode): stdin /dev/null, stdout and
    /// stderr to `out`.
    ///
    /// With `notify`, the runtime gets `NOTIFY_SOCKET` = that socket: it passes a socket
    /// into the app and forwards the app's READY=1 there (runc's, crun's and
    /// hoist-runtime's sd_notify passthrough).
    pub fn run_detached(
        &self,
        app: &str,
        id: &str,
        bundle: &Path,
        out: &Output<'_>,
        notify: Option<&Path>,
    ) -> Result<i32, PodError> {
        let pid_file = bundle.join("pid");
        let mut c = self.command();
        if let Some(sock) = notify {
            c.env("NOTIFY_SOCKET", sock);
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
        let status = c
            .stdout(stdout)
            .stderr(stderr)
            .status()
            .map_err(io_err(format!("run stage1 `{}`", self.bin.display())))?;
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
        if !self.root.join(id).exists() {
            return Ok(());
        }
        let mut c = self.command();
        c.arg("delete").arg("--force").arg(id);
        match self.run("delete", app, c) {
            Err(PodError::Stage1 { message, .. }) if message.contains("does not exist") => Ok(()),
            r => r,
        }
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
