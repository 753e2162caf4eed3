//! Running the runtime from a test (shared by the runtime, resources, seccomp and
//! hardening tests): every call within a time limit, its stdout and
//! stderr in files rather than pipes (a container inherits the stdio of `create` and
//! `run --detach`, so a pipe would not see EOF while it lives), and the two verdicts
//! every test uses: success, or runc's exit status 1 with one clear error line.

use std::fmt;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::Runtime;

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
pub fn exec(cmd: Command, stdout: Option<File>) -> Out {
    exec_with(cmd, stdout, None)
}

/// `exec` with the stderr file chosen too.
pub fn exec_with(mut cmd: Command, stdout: Option<File>, stderr: Option<File>) -> Out {
    let what = format!("{cmd:?}");
    let out = stdout.unwrap_or_else(|| tempfile::tempfile().expect("stdout file"));
    let err = stderr.unwrap_or_else(|| tempfile::tempfile().expect("stderr file"));
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

/// The cgroup hierarchies mounted under /sys/fs/cgroup, each once (symlinks skipped).
pub fn hierarchies() -> Vec<std::path::PathBuf> {
    let Ok(rd) = fs::read_dir("/sys/fs/cgroup") else {
        return Vec::new();
    };
    rd.flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect()
}

/// Hierarchies in which the cgroup `rel` (absolute, like `/hoist-test/x`) exists.
pub fn cgroup_dirs(rel: &str) -> Vec<std::path::PathBuf> {
    hierarchies()
        .into_iter()
        .map(|h| h.join(rel.trim_start_matches('/')))
        .filter(|p| p.is_dir())
        .collect()
}

/// Pids of processes whose command line mentions `needle`: a runtime or a container
/// init that has not yet exec'd still carries the container id in its argv.
pub fn processes_mentioning(needle: &str) -> Vec<(u32, String)> {
    let me = std::process::id();
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter_map(|pid| {
            let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
            cmd.contains(needle).then_some((pid, cmd))
        })
        .collect()
}

/// Whether `pid` is still a live (not zombie) process.
pub fn alive(pid: i64) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state letter follows the `(comm)` field, which may hold spaces.
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

/// Kills what is left in cgroup `rel` and removes its directories; never panics.
pub fn remove_cgroup(rel: &str) {
    for dir in cgroup_dirs(rel) {
        let _ = poll(Duration::from_secs(3), || {
            // A frozen process takes no SIGKILL: thaw first (v1 and v2).
            let _ = fs::write(dir.join("freezer.state"), "THAWED");
            let _ = fs::write(dir.join("cgroup.freeze"), "0");
            if let Ok(procs) = fs::read_to_string(dir.join("cgroup.procs")) {
                for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    // SAFETY: kill takes plain integers; the pid came from this
                    // container's own cgroup, so nothing else is signalled.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            fs::remove_dir(&dir).ok()
        });
    }
}

/// Receives one fd sent with SCM_RIGHTS on `sock`.
pub fn recv_fd(sock: &std::os::unix::net::UnixStream) -> std::os::fd::OwnedFd {
    let mut data = [0u8; 4096];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // Room for one cmsghdr carrying a few fds, 8-byte aligned as cmsghdr needs.
    let mut control = [0u64; 16];
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: msg points at `iov` and `control`, both live and writable for the call;
    // the socket fd is borrowed from `sock`, which outlives it.
    let n = unsafe {
        libc::recvmsg(
            std::os::fd::AsRawFd::as_raw_fd(sock),
            &mut msg,
            libc::MSG_CMSG_CLOEXEC,
        )
    };
    assert!(n >= 0, "recvmsg: {}", std::io::Error::last_os_error());
    // SAFETY: `msg` was filled in by recvmsg just above and `control` is still live.
    let hdr = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    assert!(!hdr.is_null(), "no control message with the console fd");
    // SAFETY: hdr is non-null and points into `control`, as recvmsg laid it out.
    let (level, kind) = unsafe { ((*hdr).cmsg_level, (*hdr).cmsg_type) };
    assert_eq!(
        (level, kind),
        (libc::SOL_SOCKET, libc::SCM_RIGHTS),
        "not SCM_RIGHTS"
    );
    // SAFETY: an SCM_RIGHTS message carries at least one int after its header, inside
    // `control`; read_unaligned does not assume alignment.
    let fd = unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(hdr).cast::<libc::c_int>()) };
    assert!(fd >= 0, "bad fd {fd}");
    // SAFETY: the kernel just installed `fd` in this process for us alone.
    unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) }
}
