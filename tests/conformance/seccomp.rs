//! `linux.seccomp` variants beyond runtime-tools' one `linux_seccomp` case (in
//! inside.rs): argument operators, every action, an allow-list profile with a default
//! errno, and SCMP_ACT_NOTIFY with a listener — a seccomp agent of the harness's own
//! that receives the notify fd with the container process state and answers the
//! container's calls. The checker probes harmless syscalls (runtimetest
//! checks/seccomp.rs) and judges each against the profile.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::bundle::{checker_bundle, only, run_checker};
use crate::console::recv_fd_data;
use crate::harness::{ensure, fail, CaseResult, Rt, Stop};
use crate::inside::check;
use crate::Case;

pub fn cases() -> Vec<Case> {
    vec![
        Case::new("linux_seccomp_errno", linux_seccomp_errno),
        Case::new("linux_seccomp_args", linux_seccomp_args),
        Case::new("linux_seccomp_actions", linux_seccomp_actions),
        Case::new("linux_seccomp_default_errno", linux_seccomp_default_errno)
            .needs(needs_syscall_table),
        Case::new("linux_seccomp_notify", linux_seccomp_notify),
    ]
}

/// The checker's probe syscalls (runtimetest checks/seccomp.rs): never in allow lists.
const PROBES: &[&str] = &[
    "getppid",
    "getpriority",
    "getpgid",
    "getsid",
    "sched_getscheduler",
    "sched_get_priority_max",
    "sched_get_priority_min",
];

/// The kernel headers' syscall table (linux-libc-dev, which libc6-dev pulls in).
const UNISTD: &str = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h";

fn needs_syscall_table() -> Option<String> {
    (!cfg!(target_arch = "x86_64") || !Path::new(UNISTD).exists())
        .then(|| format!("no x86_64 syscall table at {UNISTD} to build an allow list from"))
}

fn profile(c: &mut Value, profile: Value) {
    c["linux"]["seccomp"] = profile;
}

/// Errno rules: one rule naming several syscalls with an errnoRet, one without
/// (EPERM), the rest allowed by default.
fn linux_seccomp_errno(rt: &Rt) -> CaseResult {
    check(rt, "linux_seccomp_errno", &["seccomp", "nnp"], |c| {
        profile(
            c,
            json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {"names": ["getppid", "getsid", "sched_getscheduler"],
                     "action": "SCMP_ACT_ERRNO", "errnoRet": 121},
                    {"names": ["getpgid", "sched_get_priority_min"], "action": "SCMP_ACT_ERRNO"},
                ]
            }),
        );
    })
}

/// Every argument operator, one per probe syscall (one condition per argument:
/// libseccomp splits several conditions on one argument into rules of their own, so
/// runtimes differ there), and two conditions on two arguments, which must all hold.
fn linux_seccomp_args(rt: &Rt) -> CaseResult {
    let rule = |name: &str, errno: u32, args: Value| json!({"names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": errno, "args": args});
    check(rt, "linux_seccomp_args", &["seccomp", "nnp"], |c| {
        profile(
            c,
            json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    rule("getpgid", 71, json!([{"index": 0, "value": 0, "op": "SCMP_CMP_NE"}])),
                    rule("getsid", 72, json!([{"index": 0, "value": 5, "op": "SCMP_CMP_GT"}])),
                    rule("sched_get_priority_max", 73,
                         json!([{"index": 0, "value": 3, "op": "SCMP_CMP_LT"}])),
                    rule("sched_get_priority_min", 74,
                         json!([{"index": 0, "value": 5, "op": "SCMP_CMP_GE"}])),
                    rule("sched_getscheduler", 75,
                         json!([{"index": 0, "value": 0xff00_u32, "valueTwo": 0x100, "op": "SCMP_CMP_MASKED_EQ"}])),
                    rule("getpriority", 76, json!([
                        {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                        {"index": 1, "value": 10, "op": "SCMP_CMP_LE"}
                    ])),
                ]
            }),
        );
    })
}

/// Each action on a probe: kill (thread and process), trap (SIGSYS), trace without a
/// tracer (ENOSYS), log and allow (the call runs), errno.
fn linux_seccomp_actions(rt: &Rt) -> CaseResult {
    let rule = |name: &str, action: &str| json!({"names": [name], "action": action});
    check(rt, "linux_seccomp_actions", &["seccomp", "nnp"], |c| {
        profile(
            c,
            json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    rule("getppid", "SCMP_ACT_KILL_PROCESS"),
                    rule("getpgid", "SCMP_ACT_KILL"),
                    rule("getsid", "SCMP_ACT_TRAP"),
                    rule("sched_getscheduler", "SCMP_ACT_TRACE"),
                    rule("sched_get_priority_max", "SCMP_ACT_LOG"),
                    rule("sched_get_priority_min", "SCMP_ACT_ERRNO"),
                    rule("getpriority", "SCMP_ACT_ALLOW"),
                ]
            }),
        );
    })
}

/// Every x86_64 syscall name the kernel headers know, but the probes.
fn allow_list() -> Result<Vec<String>, Stop> {
    let text =
        std::fs::read_to_string(UNISTD).map_err(|e| Stop::Skip(format!("read {UNISTD}: {e}")))?;
    Ok(text
        .lines()
        .filter_map(|l| l.strip_prefix("#define __NR_"))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| !PROBES.contains(n))
        .map(str::to_owned)
        .collect())
}

/// An allow-list profile, as Docker's default one is: the default action is an errno
/// (defaultErrnoRet, runtime-spec 1.0.2+), every syscall but the probes is allowed,
/// and one probe has a rule of its own with another errno.
fn linux_seccomp_default_errno(rt: &Rt) -> CaseResult {
    let names = allow_list()?;
    check(
        rt,
        "linux_seccomp_default_errno",
        &["seccomp", "nnp", "process"],
        |c| {
            profile(
                c,
                json!({
                    "defaultAction": "SCMP_ACT_ERRNO",
                    "defaultErrnoRet": 78,
                    "syscalls": [
                        {"names": names, "action": "SCMP_ACT_ALLOW"},
                        {"names": ["getsid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 79},
                    ]
                }),
            );
        },
    )
}

/// What the seccomp agent answers to a notified getppid().
const NOTIFY_VALUE: i64 = 4242;
const NOTIFY_METADATA: &str = "hoist-conformance notify";

/// SCMP_ACT_NOTIFY with `listenerPath` and `listenerMetadata` (runtime-spec 1.0.2+):
/// the runtime connects to the listener and sends the container process state with
/// the notify fd (SCM_RIGHTS); the agent answers getppid() with its own value, which
/// the checker must see, and lets anything else notified continue.
fn linux_seccomp_notify(rt: &Rt) -> CaseResult {
    let case = "linux_seccomp_notify";
    let dir = crate::common::scratch("notify");
    let sock = dir.path().join("agent.sock");
    let sock_str = sock.to_string_lossy().into_owned();
    let b = checker_bundle(
        case,
        |c| {
            profile(
                c,
                json!({
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "listenerPath": sock_str,
                    "listenerMetadata": NOTIFY_METADATA,
                    "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]
                }),
            );
        },
        {
            let mut e = only(&["seccomp", "nnp"]);
            e["seccomp_notify_value"] = json!(NOTIFY_VALUE);
            e
        },
    )?;
    let agent = Agent::listen(&sock)?;
    let r = run_checker(rt, &b, case);
    let state = agent.finish();
    r?;
    let (state, answered) = state?;
    let wrong = state_problems(&state);
    ensure(wrong.is_empty(), || {
        format!(
            "the container process state sent to the listener: {}; got {state}",
            wrong.join("; ")
        )
    })?;
    ensure(answered > 0, || "the agent got no notification".into())
}

/// What is wrong with the container process state a runtime sent to the listener.
fn state_problems(state: &Value) -> Vec<String> {
    let mut wrong = Vec::new();
    if !state["ociVersion"].is_string() {
        wrong.push("no ociVersion".to_owned());
    }
    if state["fds"] != json!(["seccompFd"]) {
        wrong.push(format!("fds is {}, not [\"seccompFd\"]", state["fds"]));
    }
    if state["pid"].as_i64().is_none_or(|p| p <= 0) {
        wrong.push(format!("pid is {}", state["pid"]));
    }
    if state["metadata"] != NOTIFY_METADATA {
        wrong.push(format!(
            "metadata is {}, not {NOTIFY_METADATA:?}",
            state["metadata"]
        ));
    }
    if !state["state"]["id"]
        .as_str()
        .is_some_and(|i| i.starts_with("hc-"))
    {
        wrong.push(format!("state.id is {}", state["state"]["id"]));
    }
    if !state["state"]["bundle"].is_string() {
        wrong.push("state.bundle is missing".to_owned());
    }
    wrong
}

/// The harness's seccomp agent: one connection, one notify fd, answers on a thread
/// until told to stop.
struct Agent {
    stop: Arc<AtomicBool>,
    done: mpsc::Receiver<Result<(Value, u32), Stop>>,
}

impl Agent {
    fn listen(path: &Path) -> Result<Self, Stop> {
        let listener = UnixListener::bind(path)
            .map_err(|e| Stop::Fail(format!("bind {}: {e}", path.display())))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Stop::Fail(format!("nonblocking: {e}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, done) = mpsc::channel();
        let flag = Arc::clone(&stop);
        std::thread::spawn(move || {
            let _ = tx.send(serve(&listener, &flag));
        });
        Ok(Agent { stop, done })
    }

    /// Stops the agent; the state it received and how many calls it answered.
    fn finish(self) -> Result<(Value, u32), Stop> {
        self.stop.store(true, Ordering::Relaxed);
        self.done
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| fail("the seccomp agent did not stop"))
    }
}

fn serve(listener: &UnixListener, stop: &AtomicBool) -> Result<(Value, u32), Stop> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let sock = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                    return fail("the runtime never connected to listenerPath");
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return fail(format!("accept on listenerPath: {e}")),
        }
    };
    sock.set_nonblocking(false)
        .map_err(|e| Stop::Fail(format!("blocking: {e}")))?;
    let (data, fd) = recv_fd_data(&sock)?;
    let state: Value = serde_json::from_slice(&data).or_else(|e| {
        fail(format!(
            "the listener message is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&data)
        ))
    })?;
    let mut answered = 0;
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        match answer_one(&fd)? {
            Some(()) => answered += 1,
            None => continue,
        }
    }
    Ok((state, answered))
}

/// Waits up to 50 ms for a notification and answers it: getppid() gets
/// `NOTIFY_VALUE`, anything else continues.
fn answer_one(fd: &OwnedFd) -> Result<Option<()>, Stop> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, alive for the call.
    let n = unsafe { libc::poll(&mut pfd, 1, 50) };
    if n <= 0 || pfd.revents & libc::POLLIN == 0 {
        if pfd.revents & (libc::POLLHUP | libc::POLLERR) != 0 {
            // Every process of the filter is gone.
            std::thread::sleep(Duration::from_millis(50));
        }
        return Ok(None);
    }
    // SAFETY: seccomp_notif is plain old data; the kernel wants it zeroed.
    let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: the ioctl writes one seccomp_notif into `req`, which outlives the call.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req) } != 0 {
        // ENOENT: the caller died before we read it.
        return Ok(None);
    }
    let getppid = i64::from(req.data.nr) == libc::SYS_getppid;
    let resp = libc::seccomp_notif_resp {
        id: req.id,
        val: if getppid { NOTIFY_VALUE } else { 0 },
        error: 0,
        flags: if getppid {
            0
        } else {
            u32::try_from(libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE).unwrap_or(1)
        },
    };
    // SAFETY: the ioctl reads one seccomp_notif_resp from `resp`, alive for the call.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &resp) };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ENOENT) {
            return fail(format!("SECCOMP_IOCTL_NOTIF_SEND: {e}"));
        }
    }
    Ok(Some(()))
}
