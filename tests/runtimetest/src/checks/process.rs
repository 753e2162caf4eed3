//! `process.*` and the UTS names: args, env, cwd, user, umask, capabilities, rlimits,
//! noNewPrivileges, oomScoreAdj, hostname, domainname.

use std::collections::BTreeSet;

use serde_json::Value;

use super::Ctx;
use crate::tap::Tap;
use crate::{caps, procfs, sys};

fn status(tap: &mut Tap, what: &str) -> Option<procfs::Status> {
    let text = tap.try_ok(what, std::fs::read_to_string("/proc/self/status"))?;
    tap.try_ok(what, procfs::parse_status(&text))
}

/// Variables a runtime may add to `process.env`: runc sets HOME when the config does
/// not (from the user's /etc/passwd entry, else "/").
const ADDED_ENV: &[&str] = &["HOME"];

pub fn process(ctx: &Ctx, tap: &mut Tap) {
    match ctx.get("/process/args").and_then(Value::as_array) {
        None => tap.skip("process.args", "not set"),
        Some(a) => {
            let expected: Vec<String> = a
                .iter()
                .map(|v| v.as_str().unwrap_or_default().to_owned())
                .collect();
            let got: Vec<String> = std::env::args_os()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            tap.eq("process.args", &expected, &got);
        }
    }

    match ctx.str_at("/process/cwd") {
        None => tap.skip("process.cwd", "not set"),
        Some(cwd) => match std::env::current_dir() {
            Ok(got) => tap.eq("process.cwd", cwd, &got.to_string_lossy()),
            Err(e) => tap.fail("process.cwd", &format!("getcwd: {e}")),
        },
    }

    let env = ctx.strings("/process/env");
    let mut wrong = Vec::new();
    let mut keys = BTreeSet::new();
    for entry in &env {
        let (k, v) = entry.split_once('=').unwrap_or((entry, ""));
        keys.insert(k.to_owned());
        let got = std::env::var_os(k).map(|g| g.to_string_lossy().into_owned());
        if got.as_deref() != Some(v) {
            wrong.push(format!("{k}: expected {v:?}, got {got:?}"));
        }
    }
    tap.check(wrong.is_empty(), "process.env values", || wrong.join("; "));
    let extra: Vec<String> = std::env::vars_os()
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .filter(|k| !keys.contains(k) && !ADDED_ENV.contains(&k.as_str()))
        .collect();
    tap.check(
        extra.is_empty(),
        "process.env has nothing else (no host variable leaked)",
        || format!("unexpected variables {extra:?}"),
    );
}

/// The name of `uid` in the container's /etc/passwd, if it has one.
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[2].parse() == Ok(uid)).then(|| f[0].to_owned())
    })
}

/// The groups /etc/group lists `name` as a member of: runc adds them to the configured
/// additionalGids (libcontainer/user.GetExecUser), so they are not a leak.
fn member_groups(name: &str) -> BTreeSet<u32> {
    let Ok(group) = std::fs::read_to_string("/etc/group") else {
        return BTreeSet::new();
    };
    group
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let members = f.get(3)?;
            members
                .split(',')
                .any(|m| m == name)
                .then(|| f[2].parse().ok())?
        })
        .collect()
}

fn u32_at(ctx: &Ctx, ptr: &str) -> Option<u32> {
    ctx.get(ptr)
        .and_then(Value::as_u64)
        .and_then(|v| u32::try_from(v).ok())
}

pub fn user(ctx: &Ctx, tap: &mut Tap) {
    let ids = sys::ids();
    let uid = u32_at(ctx, "/process/user/uid").unwrap_or(0);
    let gid = u32_at(ctx, "/process/user/gid").unwrap_or(0);
    tap.eq(
        "process.user.uid (real, effective)",
        &(uid, uid),
        &(ids.uid, ids.euid),
    );
    tap.eq(
        "process.user.gid (real, effective)",
        &(gid, gid),
        &(ids.gid, ids.egid),
    );

    let additional: BTreeSet<u32> = ctx
        .array("/process/user/additionalGids")
        .iter()
        .filter_map(Value::as_u64)
        .filter_map(|g| u32::try_from(g).ok())
        .collect();
    if let Some(groups) = tap.try_ok("process.user.additionalGids", sys::getgroups()) {
        let groups: BTreeSet<u32> = groups.into_iter().collect();
        let missing: Vec<&u32> = additional.difference(&groups).collect();
        tap.check(
            missing.is_empty(),
            "process.user.additionalGids are set",
            || format!("expected {additional:?} among the groups, got {groups:?}"),
        );
        let mut allowed = additional.clone();
        allowed.insert(gid);
        if let Some(name) = user_name(uid) {
            allowed.extend(member_groups(&name));
        }
        let extra: Vec<&u32> = groups.difference(&allowed).collect();
        tap.check(
            extra.is_empty(),
            "no supplementary group beyond additionalGids",
            || format!("unexpected groups {extra:?} (groups {groups:?})"),
        );
    }

    match u32_at(ctx, "/process/user/umask") {
        None => tap.skip("process.user.umask", "not set"),
        Some(want) => {
            if let Some(st) = status(tap, "process.user.umask") {
                match st.umask {
                    None => tap.skip(
                        "process.user.umask",
                        "kernel has no Umask in /proc/self/status",
                    ),
                    Some(got) => tap.check(got == want, "process.user.umask", || {
                        format!("expected {want:04o}, got {got:04o}")
                    }),
                }
            }
        }
    }
}

pub fn capabilities(ctx: &Ctx, tap: &mut Tap) {
    if ctx.get("/process/capabilities").is_none() {
        tap.skip("process.capabilities", "not set");
        return;
    }
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40);
    let kernel = caps::kernel_mask(last);
    let set = |name: &str| {
        caps::mask(
            ctx.strings(&format!("/process/capabilities/{name}")),
            kernel,
        )
    };
    let cfg = caps::Sets {
        bounding: set("bounding"),
        effective: set("effective"),
        inheritable: set("inheritable"),
        permitted: set("permitted"),
        ambient: set("ambient"),
    };
    let ids = sys::ids();
    let Some(st) = status(tap, "process.capabilities") else {
        return;
    };
    let nnp = st
        .no_new_privs
        .unwrap_or(ctx.bool_at("/process/noNewPrivileges"));
    let want = caps::after_exec(cfg, ids.uid == 0 || ids.euid == 0, nnp);
    for (name, expected, got) in [
        ("bounding", want.bounding, st.cap_bnd),
        ("inheritable", want.inheritable, st.cap_inh),
        ("ambient", want.ambient, st.cap_amb),
        ("permitted (as exec leaves it)", want.permitted, st.cap_prm),
        ("effective (as exec leaves it)", want.effective, st.cap_eff),
    ] {
        tap.check(
            expected == got,
            &format!("process.capabilities.{name}"),
            || {
                format!(
                    "expected {}, got {} (missing {}, extra {})",
                    caps::names(expected),
                    caps::names(got),
                    caps::names(expected & !got),
                    caps::names(got & !expected)
                )
            },
        );
    }
}

/// `RLIMIT_*` names and their resource numbers.
const RLIMITS: &[(&str, libc::__rlimit_resource_t)] = &[
    ("RLIMIT_CPU", libc::RLIMIT_CPU),
    ("RLIMIT_FSIZE", libc::RLIMIT_FSIZE),
    ("RLIMIT_DATA", libc::RLIMIT_DATA),
    ("RLIMIT_STACK", libc::RLIMIT_STACK),
    ("RLIMIT_CORE", libc::RLIMIT_CORE),
    ("RLIMIT_RSS", libc::RLIMIT_RSS),
    ("RLIMIT_NPROC", libc::RLIMIT_NPROC),
    ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE),
    ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK),
    ("RLIMIT_AS", libc::RLIMIT_AS),
    ("RLIMIT_LOCKS", libc::RLIMIT_LOCKS),
    ("RLIMIT_SIGPENDING", libc::RLIMIT_SIGPENDING),
    ("RLIMIT_MSGQUEUE", libc::RLIMIT_MSGQUEUE),
    ("RLIMIT_NICE", libc::RLIMIT_NICE),
    ("RLIMIT_RTPRIO", libc::RLIMIT_RTPRIO),
    ("RLIMIT_RTTIME", libc::RLIMIT_RTTIME),
];

pub fn rlimits(ctx: &Ctx, tap: &mut Tap) {
    let list = ctx.array("/process/rlimits");
    if list.is_empty() {
        tap.skip("process.rlimits", "not set");
    }
    for r in list {
        let ty = r.get("type").and_then(Value::as_str).unwrap_or("?");
        let what = format!("process.rlimits {ty}");
        let Some(&(_, res)) = RLIMITS.iter().find(|(n, _)| *n == ty) else {
            tap.fail(
                &what,
                "unknown type: the runtime should have refused the config",
            );
            continue;
        };
        let soft = r.get("soft").and_then(Value::as_u64).unwrap_or(0);
        let hard = r.get("hard").and_then(Value::as_u64).unwrap_or(0);
        if let Some(got) = tap.try_ok(&what, sys::getrlimit(res)) {
            tap.check(got == (soft, hard), &what, || {
                format!(
                    "expected soft {soft} hard {hard}, got soft {} hard {}",
                    got.0, got.1
                )
            });
        }
    }
}

pub fn no_new_privileges(ctx: &Ctx, tap: &mut Tap) {
    let want = ctx.bool_at("/process/noNewPrivileges");
    let Some(st) = status(tap, "process.noNewPrivileges") else {
        return;
    };
    match st.no_new_privs {
        None => tap.skip(
            "process.noNewPrivileges",
            "kernel has no NoNewPrivs in /proc/self/status",
        ),
        Some(got) => tap.eq("process.noNewPrivileges", &want, &got),
    }
}

pub fn oom_score_adj(ctx: &Ctx, tap: &mut Tap) {
    let Some(want) = ctx.get("/process/oomScoreAdj").and_then(Value::as_i64) else {
        tap.skip("process.oomScoreAdj", "not set");
        return;
    };
    let Some(text) = tap.try_ok(
        "process.oomScoreAdj",
        std::fs::read_to_string("/proc/self/oom_score_adj"),
    ) else {
        return;
    };
    match text.trim().parse::<i64>() {
        Ok(got) => tap.eq("process.oomScoreAdj", &want, &got),
        Err(e) => tap.fail(
            "process.oomScoreAdj",
            &format!("oom_score_adj {text:?}: {e}"),
        ),
    }
}

pub fn uts(ctx: &Ctx, tap: &mut Tap) {
    let Some(u) = tap.try_ok("uname", sys::uname()) else {
        return;
    };
    match ctx.str_at("/hostname") {
        None => tap.skip("hostname", "not set"),
        Some(h) => tap.eq("hostname", h, &u.nodename),
    }
    match ctx.str_at("/domainname") {
        None => tap.skip("domainname", "not set"),
        Some(d) => tap.eq("domainname", d, &u.domainname),
    }
}
