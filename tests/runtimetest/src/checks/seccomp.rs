//! `linux.seccomp`, probed with harmless syscalls: a filter is loaded, and every rule
//! on a probe syscall has its action (errno, kill, trap, trace, notify, allow, log) on
//! exactly the calls its argument conditions match, while other calls get the default
//! action. Each probe runs in a forked child, so that a kill or a trap is seen from
//! outside. Also checks that nothing but fds 0-2 reached the process.

use serde_json::Value;

use super::Ctx;
use crate::procfs;
use crate::tap::Tap;

/// A syscall the checker can make without side effects, whatever its (integer)
/// arguments: it only reads process or scheduler attributes.
struct Probe {
    name: &'static str,
    nr: libc::c_long,
    arity: usize,
}

const PROBES: &[Probe] = &[
    Probe {
        name: "getppid",
        nr: libc::SYS_getppid,
        arity: 0,
    },
    // which = PRIO_PROCESS (0), who = 0 (this process) by default.
    Probe {
        name: "getpriority",
        nr: libc::SYS_getpriority,
        arity: 2,
    },
    Probe {
        name: "getpgid",
        nr: libc::SYS_getpgid,
        arity: 1,
    },
    Probe {
        name: "getsid",
        nr: libc::SYS_getsid,
        arity: 1,
    },
    Probe {
        name: "sched_getscheduler",
        nr: libc::SYS_sched_getscheduler,
        arity: 1,
    },
    Probe {
        name: "sched_get_priority_max",
        nr: libc::SYS_sched_get_priority_max,
        arity: 1,
    },
    Probe {
        name: "sched_get_priority_min",
        nr: libc::SYS_sched_get_priority_min,
        arity: 1,
    },
];

/// How a probe call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ret(i64),
    Errno(i32),
    Killed(i32),
}

/// Makes the call in a forked child and reports how it ended.
fn probe(nr: libc::c_long, args: [u64; 2]) -> Result<Outcome, String> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe2: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: the checker is single-threaded, so the child may run any code; it still
    // only makes the probe call, writes to the pipe and _exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: a raw syscall with integer arguments only; the probes read
        // attributes and take no pointers.
        let r = unsafe { libc::syscall(nr, args[0], args[1]) };
        // SAFETY: __errno_location returns this thread's errno slot.
        let errno = unsafe { *libc::__errno_location() };
        let mut buf = [0u8; 16];
        buf[..8].copy_from_slice(&r.to_ne_bytes());
        buf[8..].copy_from_slice(&i64::from(errno).to_ne_bytes());
        // SAFETY: writes 16 bytes from `buf` to the pipe's write end, then leaves
        // without running any exit handler of the parent's copy.
        unsafe {
            libc::write(fds[1], buf.as_ptr().cast(), buf.len());
            libc::_exit(0);
        }
    }
    // SAFETY: closes the write end, which this process owns.
    unsafe { libc::close(fds[1]) };
    if pid < 0 {
        // SAFETY: closes the read end, which this process owns.
        unsafe { libc::close(fds[0]) };
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    let mut buf = [0u8; 16];
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: reads into the unfilled tail of `buf`, which outlives the call.
        let n = unsafe { libc::read(fds[0], buf[got..].as_mut_ptr().cast(), buf.len() - got) };
        match usize::try_from(n) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    // SAFETY: closes the read end, which this process owns.
    unsafe { libc::close(fds[0]) };
    let mut status = 0;
    // SAFETY: waits for the child forked above; `status` outlives the call.
    if unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
        return Err(format!("waitpid: {}", std::io::Error::last_os_error()));
    }
    if libc::WIFSIGNALED(status) {
        return Ok(Outcome::Killed(libc::WTERMSIG(status)));
    }
    if got < buf.len() {
        return Err(format!(
            "the probe child exited with status {status} and no result"
        ));
    }
    let word = |r: std::ops::Range<usize>| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&buf[r]);
        i64::from_ne_bytes(w)
    };
    let (r, errno) = (word(0..8), word(8..16));
    if r == -1 {
        Ok(Outcome::Errno(i32::try_from(errno).unwrap_or(-1)))
    } else {
        Ok(Outcome::Ret(r))
    }
}

/// What an action must do to a call, as far as a probe can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    Is(Outcome),
    /// Runs as without a filter: neither killed nor failing with `not` (the errno an
    /// errno action would give), the rest is the syscall's own business.
    Runs {
        not: Option<i32>,
    },
    /// Cannot be told (a notify action without the agent's answer in expect.json).
    Unknown,
}

impl Expected {
    fn holds(&self, got: Outcome) -> bool {
        match self {
            Expected::Is(o) => *o == got,
            Expected::Runs { not } => match got {
                Outcome::Killed(_) => false,
                Outcome::Errno(e) => Some(e) != *not,
                Outcome::Ret(_) => true,
            },
            Expected::Unknown => true,
        }
    }
}

fn errno_of(v: Option<&Value>) -> i32 {
    v.and_then(Value::as_i64)
        .and_then(|e| i32::try_from(e).ok())
        .unwrap_or(libc::EPERM)
}

/// What `action` does (errnoRet from `errno_ret`); `notify`: the value the harness's
/// seccomp agent returns for notified calls.
fn action_outcome(action: &str, errno_ret: Option<&Value>, notify: Option<i64>) -> Expected {
    match action {
        "SCMP_ACT_ERRNO" => Expected::Is(Outcome::Errno(errno_of(errno_ret))),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" | "SCMP_ACT_KILL_PROCESS" | "SCMP_ACT_TRAP" => {
            Expected::Is(Outcome::Killed(libc::SIGSYS))
        }
        // No tracer is attached: the kernel fails the call with ENOSYS.
        "SCMP_ACT_TRACE" => Expected::Is(Outcome::Errno(libc::ENOSYS)),
        "SCMP_ACT_NOTIFY" => notify.map_or(Expected::Unknown, |v| Expected::Is(Outcome::Ret(v))),
        _ => Expected::Runs { not: None },
    }
}

/// One argument condition of a rule.
struct Cond {
    index: usize,
    op: String,
    value: u64,
    value_two: u64,
}

fn conditions(rule: &Value) -> Result<Vec<Cond>, String> {
    let mut out: Vec<Cond> = Vec::new();
    for c in rule
        .get("args")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
    {
        let index = c
            .get("index")
            .and_then(Value::as_u64)
            .and_then(|i| usize::try_from(i).ok())
            .ok_or("a condition without an index")?;
        if out.iter().any(|o| o.index == index) {
            // libseccomp turns these into separate rules (OR), runtimes differ.
            return Err(format!("several conditions on argument {index}"));
        }
        out.push(Cond {
            index,
            op: c
                .get("op")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            value: c.get("value").and_then(Value::as_u64).unwrap_or(0),
            value_two: c.get("valueTwo").and_then(Value::as_u64).unwrap_or(0),
        });
    }
    Ok(out)
}

/// An argument value that meets (`meet`) or misses the condition.
fn pick(c: &Cond, meet: bool) -> Option<u64> {
    let (v, v2) = (c.value, c.value_two);
    let low_bit = |m: u64| m & m.wrapping_neg();
    match (c.op.as_str(), meet) {
        ("SCMP_CMP_EQ", true) | ("SCMP_CMP_NE", false) => Some(v),
        ("SCMP_CMP_EQ", false) | ("SCMP_CMP_NE", true) => v.checked_add(1),
        ("SCMP_CMP_LT", true) | ("SCMP_CMP_GE", false) => v.checked_sub(1),
        ("SCMP_CMP_LT", false) | ("SCMP_CMP_GE", true) => Some(v),
        ("SCMP_CMP_LE", true) | ("SCMP_CMP_GT", false) => Some(v),
        ("SCMP_CMP_LE", false) | ("SCMP_CMP_GT", true) => v.checked_add(1),
        // runtime-spec: `value` is the mask, `valueTwo` the datum: (arg & value) == valueTwo.
        ("SCMP_CMP_MASKED_EQ", true) => (v2 & v == v2).then_some(v2),
        ("SCMP_CMP_MASKED_EQ", false) => (v != 0).then(|| v2 ^ low_bit(v)),
        _ => None,
    }
}

/// The probe arguments that match all conditions (`meet`) or miss the first one.
fn args_for(conds: &[Cond], arity: usize, meet: bool) -> Result<[u64; 2], String> {
    let mut args = [0u64; 2];
    for (i, c) in conds.iter().enumerate() {
        if c.index >= arity {
            return Err(format!("argument {} of a {arity}-argument probe", c.index));
        }
        let want = meet || i > 0;
        args[c.index] = pick(c, want).ok_or_else(|| {
            format!(
                "no value {} {} {}",
                if want { "meets" } else { "misses" },
                c.op,
                c.value
            )
        })?;
    }
    Ok(args)
}

pub fn seccomp(ctx: &Ctx, tap: &mut Tap) {
    let Some(sc) = ctx.get("/linux/seccomp") else {
        tap.skip("linux.seccomp", "not set");
        return;
    };
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| e.to_string())
        .and_then(|t| procfs::parse_status(&t));
    if let Some(st) = tap.try_ok("linux.seccomp filter loaded", status) {
        tap.eq(
            "linux.seccomp filter loaded (Seccomp: 2)",
            &Some(2),
            &st.seccomp,
        );
    }
    let notify = ctx
        .expect
        .get("seccomp_notify_value")
        .and_then(Value::as_i64);
    let default_action = sc
        .get("defaultAction")
        .and_then(Value::as_str)
        .unwrap_or("SCMP_ACT_ALLOW");
    let default = action_outcome(default_action, sc.get("defaultErrnoRet"), notify);
    let rules = sc
        .get("syscalls")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let naming = |p: &Probe| -> Vec<&Value> {
        rules
            .iter()
            .filter(|r| {
                r.get("names")
                    .and_then(Value::as_array)
                    .is_some_and(|n| n.iter().any(|v| v == p.name))
            })
            .collect()
    };
    for p in PROBES {
        match naming(p).as_slice() {
            [] if default != (Expected::Runs { not: None }) => {
                let what = format!("linux.seccomp {} (no rule): {default_action}", p.name);
                judge(tap, &what, p.nr, [0, 0], default);
            }
            [] => {}
            [rule] => {
                let action = rule.get("action").and_then(Value::as_str).unwrap_or("");
                let effect = action_outcome(action, rule.get("errnoRet"), notify);
                // Calls the rule does not match get the default action; an allowing
                // default must at least not give them the rule's errno.
                let miss = match (effect, default) {
                    (Expected::Is(Outcome::Errno(e)), Expected::Runs { .. }) => {
                        Expected::Runs { not: Some(e) }
                    }
                    _ => default,
                };
                rule_probes(tap, p, rule, action, effect, miss);
            }
            _ => tap.skip(
                &format!("linux.seccomp {}", p.name),
                "several rules name it; precedence is not modelled",
            ),
        }
    }
}

fn rule_probes(
    tap: &mut Tap,
    p: &Probe,
    rule: &Value,
    action: &str,
    effect: Expected,
    default: Expected,
) {
    let conds = match conditions(rule) {
        Ok(c) => c,
        Err(e) => {
            tap.skip(&format!("linux.seccomp {}", p.name), &e);
            return;
        }
    };
    match args_for(&conds, p.arity, true) {
        Ok(args) => judge(
            tap,
            &format!("linux.seccomp {}{args:?} (matches): {action}", p.name),
            p.nr,
            args,
            effect,
        ),
        Err(e) => tap.skip(&format!("linux.seccomp {} (matches)", p.name), &e),
    }
    if conds.is_empty() {
        return;
    }
    match args_for(&conds, p.arity, false) {
        Ok(args) => judge(
            tap,
            &format!(
                "linux.seccomp {}{args:?} (does not match): default action",
                p.name
            ),
            p.nr,
            args,
            default,
        ),
        Err(e) => tap.skip(&format!("linux.seccomp {} (does not match)", p.name), &e),
    }
}

fn judge(tap: &mut Tap, what: &str, nr: libc::c_long, args: [u64; 2], want: Expected) {
    if want == Expected::Unknown {
        tap.skip(what, "expect.json gives no seccomp_notify_value");
        return;
    }
    let Some(got) = tap.try_ok(what, probe(nr, args)) else {
        return;
    };
    tap.check(want.holds(got), what, || {
        format!("expected {want:?}, got {got:?}")
    });
}

/// Only stdin, stdout and stderr may reach the process: the runtime closes every
/// other descriptor (its own, the host's) before exec.
pub fn fds(_ctx: &Ctx, tap: &mut Tap) {
    let Some(dir) = tap.try_ok("only fds 0-2 are open", std::fs::read_dir("/proc/self/fd")) else {
        return;
    };
    // The directory handle read_dir holds shows in the listing too: whichever fd is
    // a directory /proc/self/fd resolves to is that one.
    let mut extra = Vec::new();
    for e in dir.flatten() {
        let Some(fd) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if fd <= 2 {
            continue;
        }
        let target = std::fs::read_link(e.path())
            .map(|t| t.to_string_lossy().into_owned())
            .unwrap_or_default();
        if target.starts_with("/proc/") && target.ends_with("/fd") {
            continue;
        }
        extra.push(format!("{fd} -> {target}"));
    }
    tap.check(extra.is_empty(), "only fds 0-2 are open", || {
        format!("leaked {extra:?}")
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cond(op: &str, value: u64, value_two: u64) -> Cond {
        Cond {
            index: 0,
            op: op.into(),
            value,
            value_two,
        }
    }

    #[test]
    fn picks_meet_and_miss() {
        for (op, v, v2) in [
            ("SCMP_CMP_EQ", 5, 0),
            ("SCMP_CMP_NE", 5, 0),
            ("SCMP_CMP_LT", 5, 0),
            ("SCMP_CMP_LE", 5, 0),
            ("SCMP_CMP_GT", 5, 0),
            ("SCMP_CMP_GE", 5, 0),
            ("SCMP_CMP_MASKED_EQ", 0xf0, 0x10),
        ] {
            let c = cond(op, v, v2);
            let holds = |x: u64| match op {
                "SCMP_CMP_EQ" => x == v,
                "SCMP_CMP_NE" => x != v,
                "SCMP_CMP_LT" => x < v,
                "SCMP_CMP_LE" => x <= v,
                "SCMP_CMP_GT" => x > v,
                "SCMP_CMP_GE" => x >= v,
                _ => x & v == v2,
            };
            assert!(holds(pick(&c, true).unwrap()), "{op} meet");
            assert!(!holds(pick(&c, false).unwrap()), "{op} miss");
        }
        assert_eq!(pick(&cond("SCMP_CMP_LT", 0, 0), true), None);
    }

    #[test]
    fn several_conditions_on_one_argument_are_refused() {
        let rule = json!({"args": [
            {"index": 0, "op": "SCMP_CMP_GT", "value": 1},
            {"index": 0, "op": "SCMP_CMP_LT", "value": 9}
        ]});
        assert!(conditions(&rule).is_err());
    }

    #[test]
    fn outcomes() {
        assert_eq!(
            action_outcome("SCMP_ACT_ERRNO", None, None),
            Expected::Is(Outcome::Errno(libc::EPERM))
        );
        assert_eq!(
            action_outcome("SCMP_ACT_TRAP", None, None),
            Expected::Is(Outcome::Killed(libc::SIGSYS))
        );
        assert!(Expected::Runs { not: Some(18) }.holds(Outcome::Errno(3)));
        assert!(!Expected::Runs { not: Some(18) }.holds(Outcome::Errno(18)));
    }
}
