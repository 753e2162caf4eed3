//! Files the runtime puts in place or hides: `linux.devices`, the default devices and
//! /dev symlinks, `linux.maskedPaths`, `linux.readonlyPaths`.

use std::fs::{self, File, FileTimes, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use serde_json::Value;

use super::Ctx;
use crate::procfs::{major, minor};
use crate::{sys, tap::Tap};

fn kind(m: &fs::Metadata) -> &'static str {
    let t = m.file_type();
    if t.is_char_device() {
        "c"
    } else if t.is_block_device() {
        "b"
    } else if t.is_fifo() {
        "p"
    } else if t.is_symlink() {
        "symlink"
    } else if t.is_dir() {
        "directory"
    } else if t.is_file() {
        "regular file"
    } else {
        "socket"
    }
}

pub fn devices(ctx: &Ctx, tap: &mut Tap) {
    let list = ctx.array("/linux/devices");
    if list.is_empty() {
        tap.skip("linux.devices", "not set");
        return;
    }
    // In a user namespace a runtime cannot mknod: it bind-mounts the host's node, whose
    // mode and owner are the host's (runc does this), so only type and number count.
    let userns = ctx.has_namespace("user");
    for d in list {
        let path = d.get("path").and_then(Value::as_str).unwrap_or_default();
        let what = format!("linux.devices {path}");
        let Some(meta) = tap.try_ok(
            &what,
            fs::symlink_metadata(path).map_err(|e| format!("lstat: {e}")),
        ) else {
            continue;
        };
        let want_type = d.get("type").and_then(Value::as_str).unwrap_or_default();
        let want_kind = if want_type == "u" { "c" } else { want_type };
        let mut wrong = Vec::new();
        if kind(&meta) != want_kind {
            wrong.push(format!("type: expected {want_type}, got {}", kind(&meta)));
        } else if want_kind != "p" {
            let num = |k: &str| d.get(k).and_then(Value::as_u64).unwrap_or(0);
            let (maj, min) = (major(meta.rdev()), minor(meta.rdev()));
            if (maj, min) != (num("major"), num("minor")) {
                wrong.push(format!(
                    "number: expected {}:{}, got {maj}:{min}",
                    num("major"),
                    num("minor")
                ));
            }
        }
        if !userns {
            if let Some(mode) = d.get("fileMode").and_then(Value::as_u64) {
                let got = u64::from(meta.mode()) & 0o7777;
                if got != mode & 0o7777 {
                    wrong.push(format!(
                        "fileMode: expected {:04o}, got {got:04o}",
                        mode & 0o7777
                    ));
                }
            }
            for (key, got) in [("uid", meta.uid()), ("gid", meta.gid())] {
                if let Some(want) = d.get(key).and_then(Value::as_u64) {
                    if want != u64::from(got) {
                        wrong.push(format!("{key}: expected {want}, got {got}"));
                    }
                }
            }
        }
        tap.check(wrong.is_empty(), &what, || wrong.join("; "));
    }
}

/// The devices every container gets (config-linux.md, "Default Devices").
const DEFAULT_DEVICES: &[(&str, u64, u64)] = &[
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// The /dev symlinks every container gets (config.md, "Default Filesystems" and
/// runc's defaults).
const DEFAULT_LINKS: &[(&str, &str)] = &[
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
];

fn char_device(path: &str, maj: u64, min: u64) -> Result<(), String> {
    let m = fs::symlink_metadata(path).map_err(|e| format!("lstat: {e}"))?;
    if !m.file_type().is_char_device() {
        return Err(format!("a {}, not a character device", kind(&m)));
    }
    let got = (major(m.rdev()), minor(m.rdev()));
    if got != (maj, min) {
        return Err(format!("expected {maj}:{min}, got {}:{}", got.0, got.1));
    }
    Ok(())
}

pub fn default_devices(ctx: &Ctx, tap: &mut Tap) {
    for &(path, maj, min) in DEFAULT_DEVICES {
        let r = char_device(path, maj, min);
        tap.check(
            r.is_ok(),
            &format!("default device {path} ({maj}:{min})"),
            || r.err().unwrap_or_default(),
        );
    }
    // /dev/ptmx: a symlink to pts/ptmx (runc, crun) or a bind mount of /dev/pts/ptmx.
    let ptmx = match fs::read_link("/dev/ptmx") {
        Ok(t) if t == Path::new("pts/ptmx") || t == Path::new("/dev/pts/ptmx") => Ok(()),
        Ok(t) => Err(format!("a symlink to {t:?}")),
        Err(_) => char_device("/dev/ptmx", 5, 2),
    };
    tap.check(ptmx.is_ok(), "/dev/ptmx is pts/ptmx", || {
        ptmx.err().unwrap_or_default()
    });
    for &(link, target) in DEFAULT_LINKS {
        let got = fs::read_link(link);
        tap.check(
            got.as_ref().is_ok_and(|t| t == Path::new(target)),
            &format!("{link} -> {target}"),
            || format!("got {got:?}"),
        );
    }
    if ctx.bool_at("/process/terminal") {
        // The runtime bind-mounts the pty slave it made at /dev/console.
        let r = fs::metadata("/dev/console").map_err(|e| e.to_string());
        let is_char = r.as_ref().is_ok_and(|m| m.file_type().is_char_device());
        tap.check(
            is_char,
            "/dev/console is a terminal device (process.terminal)",
            || format!("{r:?}"),
        );
        let ttys: Vec<bool> = (0..3).map(sys::isatty).collect();
        tap.check(
            ttys.iter().all(|t| *t),
            "stdin, stdout, stderr are the terminal (process.terminal)",
            || format!("isatty(0, 1, 2) = {ttys:?}"),
        );
    }
    // The device cgroup must let the container use them, not just see them.
    let null = OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .and_then(|mut f| f.write_all(b"x"));
    tap.check(null.is_ok(), "/dev/null is writable", || {
        format!("{null:?}")
    });
    for path in ["/dev/zero", "/dev/urandom"] {
        let mut buf = [1u8; 4];
        let r = File::open(path).and_then(|mut f| f.read_exact(&mut buf));
        tap.check(r.is_ok(), &format!("{path} is readable"), || {
            format!("{r:?}")
        });
    }
}

/// The name of an errno for messages.
fn errno_name(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EROFS) => "EROFS".into(),
        Some(libc::EACCES) => "EACCES".into(),
        Some(libc::EPERM) => "EPERM".into(),
        Some(libc::ENOENT) => "ENOENT".into(),
        _ => e.to_string(),
    }
}

pub fn masked(ctx: &Ctx, tap: &mut Tap) {
    let list = ctx.strings("/linux/maskedPaths");
    if list.is_empty() {
        tap.skip("linux.maskedPaths", "not set");
    }
    for path in list {
        let what = format!("linux.maskedPaths {path}");
        let meta = match fs::metadata(path) {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                tap.skip(&what, "does not exist in the container");
                continue;
            }
            Err(e) => {
                // Masking by denying access is masking too.
                tap.check(e.raw_os_error() == Some(libc::EACCES), &what, || {
                    format!("stat: {e}")
                });
                continue;
            }
            Ok(m) => m,
        };
        if meta.is_dir() {
            let entries =
                fs::read_dir(path).map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>());
            match entries {
                Ok(v) => tap.check(v.is_empty(), &format!("{what} lists nothing"), || {
                    format!("lists {v:?}")
                }),
                Err(e) => tap.check(
                    e.raw_os_error() == Some(libc::EACCES),
                    &format!("{what} lists nothing"),
                    || format!("readdir: {e}"),
                ),
            }
        } else {
            let mut buf = [0u8; 1];
            let r = File::open(path).and_then(|mut f| f.read(&mut buf));
            match r {
                Ok(n) => tap.check(n == 0, &format!("{what} reads nothing"), || {
                    "read returned data".into()
                }),
                Err(e) => tap.check(
                    e.raw_os_error() == Some(libc::EACCES),
                    &format!("{what} reads nothing"),
                    || format!("read: {e}"),
                ),
            }
        }
    }
}

pub fn readonly(ctx: &Ctx, tap: &mut Tap) {
    let list = ctx.strings("/linux/readonlyPaths");
    if list.is_empty() {
        tap.skip("linux.readonlyPaths", "not set");
    }
    for path in list {
        let what = format!("linux.readonlyPaths {path}");
        let meta = match fs::metadata(path) {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                tap.skip(&what, "does not exist in the container");
                continue;
            }
            Err(e) => {
                tap.fail(&what, &format!("stat: {e}"));
                continue;
            }
            Ok(m) => m,
        };
        let ro = sys::is_readonly_mount(Path::new(path));
        tap.check(
            matches!(ro, Ok(true)),
            &format!("{what} is on a read-only mount"),
            || format!("statvfs: {ro:?}"),
        );
        // A write attempt that changes nothing: setting a directory's times to what
        // they are (a mkdir probe would not do: procfs answers ENOENT before EROFS),
        // opening a file for writing (opening /proc/sysrq-trigger triggers nothing).
        let r = if meta.is_dir() {
            let times = || -> std::io::Result<FileTimes> {
                Ok(FileTimes::new()
                    .set_accessed(meta.accessed()?)
                    .set_modified(meta.modified()?))
            };
            File::open(path).and_then(|f| f.set_times(times()?))
        } else {
            OpenOptions::new().write(true).open(path).map(drop)
        };
        tap.check(
            matches!(&r, Err(e) if e.raw_os_error() == Some(libc::EROFS)),
            &format!("{what} write fails with EROFS"),
            || match &r {
                Ok(()) => "the write worked".into(),
                Err(e) => format!("got {}", errno_name(e)),
            },
        );
    }
}
