//! `mounts`, `root.readonly` and `linux.rootfsPropagation`, read back from
//! /proc/self/mountinfo.

use std::io::ErrorKind;

use serde_json::Value;

use super::Ctx;
use crate::procfs::{self, MountInfo};
use crate::tap::Tap;

fn mountinfo(tap: &mut Tap, what: &str) -> Option<Vec<MountInfo>> {
    let text = tap.try_ok(what, std::fs::read_to_string("/proc/self/mountinfo"))?;
    tap.try_ok(what, procfs::parse_mountinfo(&text))
}

/// A path with `.`, `..`, repeated and trailing slashes resolved lexically, the way a
/// mount destination shows in mountinfo.
pub fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The mount the container's root is: the last one at "/".
fn root_mount(infos: &[MountInfo]) -> Option<&MountInfo> {
    infos.iter().rev().find(|m| m.mount_point == "/")
}

pub fn mounts(ctx: &Ctx, tap: &mut Tap) {
    let list = ctx.array("/mounts");
    if list.is_empty() {
        tap.skip("mounts", "not set");
        return;
    }
    let Some(infos) = mountinfo(tap, "mounts") else {
        return;
    };
    // The spec wants mounts made in the order listed; mountinfo lists a namespace's
    // mounts in the order they were made, so each configured mount must appear after
    // the previous one's.
    let mut next = 0;
    for (i, m) in list.iter().enumerate() {
        let dest = clean(
            m.get("destination")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        );
        let what = format!("mounts[{i}] {dest}");
        let at: Vec<usize> = (0..infos.len())
            .filter(|&j| infos[j].mount_point == dest)
            .collect();
        let Some(&last) = at.last() else {
            tap.fail(&what, "not in /proc/self/mountinfo");
            continue;
        };
        let in_order = at.iter().copied().find(|&j| j >= next);
        tap.check(
            in_order.is_some(),
            &format!("{what} mounted, in order"),
            || "mounted, but before an earlier mount of the list".to_owned(),
        );
        let j = in_order.unwrap_or(last);
        if in_order.is_some() {
            next = j + 1;
        }
        check_mount(tap, &what, m, &infos[j], &infos);
    }
}

fn options(m: &Value) -> Vec<&str> {
    m.get("options")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn check_mount(tap: &mut Tap, what: &str, m: &Value, info: &MountInfo, infos: &[MountInfo]) {
    let opts = options(m);
    let ty = m.get("type").and_then(Value::as_str).unwrap_or_default();
    let source = m.get("source").and_then(Value::as_str).unwrap_or_default();
    let is_bind = ty == "bind" || opts.iter().any(|o| *o == "bind" || *o == "rbind");
    // On a cgroup v1 (or hybrid) host, runc mounts type "cgroup" as a tmpfs holding one
    // mount per hierarchy; on a v2 host it is one cgroup2 mount.
    let cgroup_tree = ty == "cgroup" && info.fstype == "tmpfs";

    let mut wrong = Vec::new();
    if is_bind {
        let base = |p: &str| {
            p.trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned()
        };
        if !source.is_empty() && info.root != "/" && base(source) != base(&info.root) {
            wrong.push(format!(
                "bind source: expected …/{}, got {:?}",
                base(source),
                info.root
            ));
        }
    } else if ty == "cgroup" {
        if !["cgroup", "cgroup2", "tmpfs"].contains(&info.fstype.as_str()) {
            wrong.push(format!("type: expected cgroup, got {:?}", info.fstype));
        }
    } else {
        if !ty.is_empty() && info.fstype != ty {
            wrong.push(format!("type: expected {ty:?}, got {:?}", info.fstype));
        }
        if !source.is_empty() && info.source != source {
            wrong.push(format!(
                "source: expected {source:?}, got {:?}",
                info.source
            ));
        }
    }
    tap.check(wrong.is_empty(), &format!("{what} type and source"), || {
        wrong.join("; ")
    });

    // Flags of a cgroup tree land on the hierarchies under the tmpfs.
    let targets: Vec<&MountInfo> = if cgroup_tree {
        infos.iter().filter(|c| c.parent == info.id).collect()
    } else {
        vec![info]
    };
    if targets.is_empty() {
        tap.fail(
            &format!("{what} options"),
            "a tmpfs with no cgroup hierarchy under it",
        );
        return;
    }
    let mut wrong = Vec::new();
    for t in &targets {
        for o in &opts {
            if let Err(e) = check_option(o, t, info, is_bind || cgroup_tree, ty) {
                wrong.push(if cgroup_tree {
                    format!("{}: {e}", t.mount_point)
                } else {
                    e
                });
            }
        }
    }
    tap.check(
        wrong.is_empty(),
        &format!("{what} options {opts:?}"),
        || {
            format!(
                "{} (mount options {:?}, fs options {:?})",
                wrong.join("; "),
                info.mount_options,
                info.super_options
            )
        },
    );
}

/// Checks one configured mount option against a mountinfo entry.
fn check_option(
    opt: &str,
    t: &MountInfo,
    top: &MountInfo,
    no_fs_opts: bool,
    ty: &str,
) -> Result<(), String> {
    let has = |o: &str| t.has_option(o);
    let want = |cond: bool, msg: &str| {
        if cond {
            Ok(())
        } else {
            Err(format!("{opt}: {msg}"))
        }
    };
    match opt {
        "ro" | "nosuid" | "nodev" | "noexec" | "noatime" | "nodiratime" | "relatime" => {
            want(has(opt), "not set")
        }
        "rw" => want(has("rw"), "mounted read-only"),
        "suid" | "dev" | "exec" => want(!has(&format!("no{opt}")), "the opposite is set"),
        "strictatime" => want(
            !has("relatime") && !has("noatime"),
            "relatime or noatime set",
        ),
        "shared" | "rshared" => want(top.is_shared(), "mount is not shared"),
        "private" | "rprivate" => want(
            !top.is_shared() && !top.is_slave(),
            "mount is shared or a slave",
        ),
        "slave" | "rslave" => want(!top.is_shared(), "mount is shared"),
        "unbindable" | "runbindable" => want(top.is_unbindable(), "mount is bindable"),
        _ => match opt.split_once('=') {
            Some((key, value)) if !no_fs_opts => check_fs_option(key, value, t, ty),
            _ => Ok(()),
        },
    }
}

/// The value a file system uses when an option is not given, which mountinfo then
/// leaves out (tmpfs and devpts only show modes that differ from their default).
fn fs_default(ty: &str, key: &str) -> Option<u64> {
    match (ty, key) {
        ("tmpfs", "mode") => Some(0o1777),
        ("devpts", "mode") => Some(0o600),
        ("devpts", "ptmxmode") => Some(0),
        (_, "uid" | "gid") => Some(0),
        _ => None,
    }
}

/// A size option in bytes: plain, or with a k/m/g suffix; `None` for a percentage.
pub fn parse_size(s: &str) -> Option<u64> {
    let (num, mult) = match s.char_indices().last()? {
        (i, 'k' | 'K') => (&s[..i], 1u64 << 10),
        (i, 'm' | 'M') => (&s[..i], 1 << 20),
        (i, 'g' | 'G') => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

fn check_fs_option(key: &str, value: &str, t: &MountInfo, ty: &str) -> Result<(), String> {
    let parse: fn(&str) -> Option<u64> = match key {
        "mode" | "ptmxmode" => |v| u64::from_str_radix(v, 8).ok(),
        "uid" | "gid" => |v| v.parse().ok(),
        "size" => parse_size,
        _ => return Ok(()),
    };
    let Some(want) = parse(value) else {
        return Ok(());
    };
    let got = t.super_option(key);
    let ok = match got {
        // devpts and tmpfs show uid= and gid= as ids of the initial user namespace,
        // so inside a user namespace the configured id shows mapped to the host.
        Some(g) if key == "uid" || key == "gid" => parse(g).is_some_and(|g| {
            g == want || to_host(&format!("/proc/self/{key}_map"), want) == Some(g)
        }),
        Some(g) => parse(g) == Some(want),
        None => fs_default(ty, key) == Some(want),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{key}={value}: file system has {}",
            got.map_or("the default".to_owned(), |g| format!("{key}={g}"))
        ))
    }
}

/// The id `id` of this user namespace maps to in the parent one, per `map_file`.
fn to_host(map_file: &str, id: u64) -> Option<u64> {
    let maps = procfs::parse_id_map(&std::fs::read_to_string(map_file).ok()?).ok()?;
    maps.iter()
        .find(|m| id >= m.inside && id - m.inside < m.count)
        .map(|m| m.outside + (id - m.inside))
}

pub fn root(ctx: &Ctx, tap: &mut Tap) {
    let readonly = ctx.bool_at("/root/readonly");
    let Some(infos) = mountinfo(tap, "root.readonly") else {
        return;
    };
    let Some(root) = root_mount(&infos) else {
        tap.fail("root.readonly", "no mount at / in mountinfo");
        return;
    };
    tap.check(
        root.has_option("ro") == readonly,
        &format!("root.readonly {readonly}: / mount flags"),
        || format!("/ is mounted {:?}", root.mount_options),
    );
    let probe = format!("/.runtimetest-probe-{}", std::process::id());
    let res = std::fs::create_dir(&probe);
    if res.is_ok() {
        let _ = std::fs::remove_dir(&probe);
    }
    match (readonly, res) {
        (true, Err(e)) if e.raw_os_error() == Some(libc::EROFS) => {
            tap.pass("root.readonly true: mkdir in / fails with EROFS")
        }
        (true, r) => tap.fail(
            "root.readonly true: mkdir in / fails with EROFS",
            &format!("got {r:?}"),
        ),
        (false, Ok(())) => tap.pass("root.readonly false: mkdir in / works"),
        (false, Err(e)) if e.kind() == ErrorKind::AlreadyExists => {
            tap.pass("root.readonly false: mkdir in / works")
        }
        (false, Err(e)) => tap.fail("root.readonly false: mkdir in / works", &e.to_string()),
    }
}

pub fn propagation(ctx: &Ctx, tap: &mut Tap) {
    let Some(p) = ctx.str_at("/linux/rootfsPropagation") else {
        tap.skip("linux.rootfsPropagation", "not set");
        return;
    };
    let what = format!("linux.rootfsPropagation {p}");
    let Some(infos) = mountinfo(tap, &what) else {
        return;
    };
    let Some(root) = root_mount(&infos) else {
        tap.fail(&what, "no mount at / in mountinfo");
        return;
    };
    let tags = || format!("/ has propagation tags {:?}", root.optional);
    match p {
        "shared" | "rshared" => tap.check(root.is_shared(), &format!("{what}: / is shared"), tags),
        // A slave of a private mount shows no tag at all, so "not shared" is all that
        // can be told from inside when the host's side is private.
        "slave" | "rslave" => {
            tap.check(!root.is_shared(), &format!("{what}: / is not shared"), tags)
        }
        "private" | "rprivate" => tap.check(
            !root.is_shared() && !root.is_slave(),
            &format!("{what}: / is private"),
            tags,
        ),
        "unbindable" | "runbindable" => tap.check(
            root.is_unbindable(),
            &format!("{what}: / is unbindable"),
            tags,
        ),
        _ => tap.fail(
            &what,
            "unknown value: the runtime should have refused the config",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_paths() {
        assert_eq!(clean("/dev/"), "/dev");
        assert_eq!(clean("//dev//pts/./x/.."), "/dev/pts");
        assert_eq!(clean("/"), "/");
        assert_eq!(clean("/../.."), "/");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("65536k"), Some(64 << 20));
        assert_eq!(parse_size("64m"), Some(64 << 20));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("50%"), None);
    }

    fn info(line: &str) -> MountInfo {
        procfs::parse_mountinfo(line).unwrap().remove(0)
    }

    #[test]
    fn options_against_mountinfo() {
        let dev = info("67 65 0:41 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755");
        for o in [
            "nosuid",
            "strictatime",
            "mode=755",
            "mode=0755",
            "size=65536k",
            "size=64m",
            "rw",
            "dev",
        ] {
            assert_eq!(check_option(o, &dev, &dev, false, "tmpfs"), Ok(()), "{o}");
        }
        for o in ["ro", "nodev", "mode=700", "size=1m", "shared"] {
            assert!(check_option(o, &dev, &dev, false, "tmpfs").is_err(), "{o}");
        }
        // tmpfs leaves mode=1777 out; devpts leaves mode=600 out.
        let shm = info(
            "69 67 0:43 / /dev/shm rw,nosuid,nodev,noexec,relatime - tmpfs shm rw,size=65536k",
        );
        assert_eq!(
            check_option("mode=1777", &shm, &shm, false, "tmpfs"),
            Ok(())
        );
        assert!(check_option("mode=755", &shm, &shm, false, "tmpfs").is_err());
        let pts = info("68 67 0:42 / /dev/pts rw,nosuid,noexec,relatime - devpts devpts rw,gid=5,mode=620,ptmxmode=666");
        for o in [
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
            "noexec",
        ] {
            assert_eq!(check_option(o, &pts, &pts, false, "devpts"), Ok(()), "{o}");
        }
        // Bind mounts keep the source's file system options: those are not checked.
        assert_eq!(check_option("mode=700", &dev, &dev, true, "bind"), Ok(()));
    }

    #[test]
    fn propagation_options() {
        let shared = info("90 65 0:50 / /x rw shared:7 - tmpfs none rw");
        let slave = info("91 65 0:50 / /y rw master:7 - tmpfs none rw");
        assert_eq!(
            check_option("rshared", &shared, &shared, false, "tmpfs"),
            Ok(())
        );
        assert!(check_option("private", &shared, &shared, false, "tmpfs").is_err());
        assert_eq!(
            check_option("rslave", &slave, &slave, false, "tmpfs"),
            Ok(())
        );
        assert!(check_option("private", &slave, &slave, false, "tmpfs").is_err());
    }
}
