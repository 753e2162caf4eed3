//! `linux.resources` as the container sees it: every value the config sets is read back
//! from the process's own cgroup (found through /proc/self/cgroup and the cgroup mounts
//! inside the container, v1 or v2 per controller), and the device rules are tried by
//! opening device nodes the harness made. Also: a terminal on stdio for an exec'd
//! `process.terminal`.

use std::fs::OpenOptions;

use serde_json::Value;

use super::Ctx;
use crate::cgroupfs::{self, Place};
use crate::sys;
use crate::tap::Tap;

pub fn resources(ctx: &Ctx, tap: &mut Tap) {
    let Some(r) = ctx.get("/linux/resources") else {
        tap.skip("linux.resources", "not set");
        return;
    };
    let read = |p: &str| std::fs::read_to_string(p).map_err(|e| format!("read {p}: {e}"));
    let Some(mountinfo) = tap.try_ok("linux.resources", read("/proc/self/mountinfo")) else {
        return;
    };
    let Some(cgroup) = tap.try_ok("linux.resources", read("/proc/self/cgroup")) else {
        return;
    };
    let place = Place::new(&mountinfo, &cgroup);
    let (expect, notes) = cgroupfs::expectations(r, &|c| !place.on_v1(c));
    for (what, why) in notes {
        tap.skip(&format!("linux.resources {what}"), &why);
    }
    for e in expect {
        let what = format!("linux.resources {} ({})", e.what, e.file);
        let text = place
            .dir(&e.controller)
            .and_then(|d| read(&d.join(&e.file).to_string_lossy()));
        let Some(text) = tap.try_ok(&what, text) else {
            continue;
        };
        let r = cgroupfs::judge(&e.want, &text);
        tap.check(r.is_ok(), &what, || r.err().unwrap_or_default());
    }
}

/// Opens each of expect.json's `device_probes` (`{"path", "access": "r"|"w"|"rw",
/// "allowed"}`): the device cgroup (v1 list or v2 eBPF program) refuses with EPERM
/// exactly the ones not allowed; an allowed one may still fail in its driver (ENXIO
/// for a loop device that does not exist), which is not the cgroup's doing.
pub fn device_access(ctx: &Ctx, tap: &mut Tap) {
    let probes = ctx
        .expect
        .get("device_probes")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if probes.is_empty() {
        tap.skip("device access", "expect.json gives no device_probes");
        return;
    }
    for p in probes {
        let path = p.get("path").and_then(Value::as_str).unwrap_or_default();
        let access = p.get("access").and_then(Value::as_str).unwrap_or("r");
        let allowed = p.get("allowed").and_then(Value::as_bool).unwrap_or(false);
        let r = OpenOptions::new()
            .read(access.contains('r'))
            .write(access.contains('w'))
            .open(path);
        let eperm = r
            .as_ref()
            .err()
            .is_some_and(|e| e.raw_os_error() == Some(libc::EPERM));
        let what = format!(
            "device {path} opened {access}: {}",
            if allowed { "allowed" } else { "denied (EPERM)" }
        );
        tap.check(eperm != allowed, &what, || format!("got {:?}", r.err()));
    }
}

/// A process with `process.terminal` has a terminal on stdin, stdout and stderr, and
/// it is the process's controlling terminal.
pub fn tty(ctx: &Ctx, tap: &mut Tap) {
    if !ctx.bool_at("/process/terminal") {
        tap.skip("process.terminal", "not set");
        return;
    }
    let ttys: Vec<bool> = (0..3).map(sys::isatty).collect();
    tap.check(
        ttys.iter().all(|t| *t),
        "process.terminal: stdin, stdout, stderr are a terminal",
        || format!("isatty(0, 1, 2) = {ttys:?}"),
    );
    // Field 7 of /proc/self/stat (after the parenthesised comm) is tty_nr.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let tty_nr = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(4))
        .and_then(|v| v.parse::<i64>().ok());
    tap.check(
        tty_nr.is_some_and(|n| n != 0),
        "process.terminal: the terminal is the controlling terminal",
        || format!("tty_nr {tty_nr:?} in {stat:?}"),
    );
}
