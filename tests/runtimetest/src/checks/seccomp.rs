//! `linux.seccomp`, probed with harmless syscalls: a filter is loaded, and each
//! `SCMP_ACT_ERRNO` rule on a probe syscall (with `SCMP_CMP_EQ` argument conditions)
//! makes exactly the matching calls fail with the configured errno. Also checks that
//! nothing but fds 0-2 reached the process.

use serde_json::Value;

use super::Ctx;
use crate::procfs;
use crate::tap::Tap;

/// Syscalls the checker can make without side effects, by name, with the number and
/// the argument values used when a rule does not pin them.
const PROBES: &[(&str, libc::c_long, [u64; 2])] = &[
    ("getppid", libc::SYS_getppid, [0, 0]),
    // which = PRIO_PROCESS (0), who = 0 (this process).
    ("getpriority", libc::SYS_getpriority, [0, 0]),
    ("getpgid", libc::SYS_getpgid, [0, 0]),
];

/// Calls a probe syscall; the errno when it fails.
fn probe(nr: libc::c_long, args: [u64; 2]) -> Result<(), i32> {
    // SAFETY: the probes take two integer arguments (or ignore them) and only read
    // process attributes; no pointer is passed.
    let r = unsafe { libc::syscall(nr, args[0], args[1]) };
    if r == -1 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(())
    }
}

/// The argument values a rule pins with `SCMP_CMP_EQ` on arguments 0 and 1, or `None`
/// when it has conditions the probes cannot express.
fn pinned_args(rule: &Value, mut args: [u64; 2]) -> Option<[u64; 2]> {
    for cond in rule
        .get("args")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
    {
        let index = usize::try_from(cond.get("index")?.as_u64()?).ok()?;
        if cond.get("op")?.as_str()? != "SCMP_CMP_EQ" || index > 1 {
            return None;
        }
        args[index] = cond.get("value")?.as_u64()?;
    }
    Some(args)
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
    let rules = sc
        .get("syscalls")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    for rule in rules {
        if rule.get("action").and_then(Value::as_str) != Some("SCMP_ACT_ERRNO") {
            continue;
        }
        let errno = rule
            .get("errnoRet")
            .and_then(Value::as_i64)
            .unwrap_or(i64::from(libc::EPERM));
        let names = rule
            .get("names")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        for (name, nr, defaults) in PROBES
            .iter()
            .filter(|(n, _, _)| names.iter().any(|v| v == n))
        {
            let Some(args) = pinned_args(rule, *defaults) else {
                tap.skip(
                    &format!("linux.seccomp {name}"),
                    "conditions the probe cannot express",
                );
                continue;
            };
            let r = probe(*nr, args);
            tap.check(
                r.err().map(i64::from) == Some(errno),
                &format!("linux.seccomp {name}{args:?} fails with errno {errno}"),
                || format!("got {r:?}"),
            );
            // A rule pinning argument 0 must leave other values alone.
            if rule
                .get("args")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
            {
                let other = [args[0] ^ 1, args[1]];
                let r = probe(*nr, other);
                tap.check(
                    r.is_ok(),
                    &format!("linux.seccomp {name}{other:?} (not matching the rule) works"),
                    || format!("got errno {r:?}"),
                );
            }
        }
    }
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
