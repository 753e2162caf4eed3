//! Mount options of config.json (`ro`, `nosuid`, `rbind`, `rslave`, `rro`, …) turned into
//! mount(2) flags, propagation changes, mount_setattr attributes and the data string.

/// What one mount's option list asks for.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MountOptions {
    pub flags: u64,
    /// Propagation changes, applied one by one after the mount.
    pub propagation: Vec<u64>,
    /// Recursive attributes (`rro`, `rnosuid`, …) to set and clear with mount_setattr.
    pub attr_set: u64,
    pub attr_clr: u64,
    /// Everything the kernel's fs takes as data (`mode=755`, `size=…`).
    pub data: String,
}

pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR_ATIME_MASK: u64 = 0x70;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

/// (name, clears?, flag)
const FLAGS: &[(&str, bool, u64)] = &[
    ("async", true, libc::MS_SYNCHRONOUS),
    ("atime", true, libc::MS_NOATIME),
    ("bind", false, libc::MS_BIND),
    ("defaults", false, 0),
    ("dev", true, libc::MS_NODEV),
    ("diratime", true, libc::MS_NODIRATIME),
    ("dirsync", false, libc::MS_DIRSYNC),
    ("exec", true, libc::MS_NOEXEC),
    ("iversion", false, libc::MS_I_VERSION),
    ("lazytime", false, libc::MS_LAZYTIME),
    ("loud", true, libc::MS_SILENT),
    ("mand", false, libc::MS_MANDLOCK),
    ("noatime", false, libc::MS_NOATIME),
    ("nodev", false, libc::MS_NODEV),
    ("nodiratime", false, libc::MS_NODIRATIME),
    ("noexec", false, libc::MS_NOEXEC),
    ("noiversion", true, libc::MS_I_VERSION),
    ("nolazytime", true, libc::MS_LAZYTIME),
    ("nomand", true, libc::MS_MANDLOCK),
    ("norelatime", true, libc::MS_RELATIME),
    ("nostrictatime", true, libc::MS_STRICTATIME),
    ("nosuid", false, libc::MS_NOSUID),
    ("nosymfollow", false, 256),
    ("rbind", false, libc::MS_BIND | libc::MS_REC),
    ("relatime", false, libc::MS_RELATIME),
    ("remount", false, libc::MS_REMOUNT),
    ("ro", false, libc::MS_RDONLY),
    ("rw", true, libc::MS_RDONLY),
    ("silent", false, libc::MS_SILENT),
    ("strictatime", false, libc::MS_STRICTATIME),
    ("suid", true, libc::MS_NOSUID),
    ("sync", false, libc::MS_SYNCHRONOUS),
];

/// (name, clears?, attribute)
const ATTRS: &[(&str, bool, u64)] = &[
    ("rro", false, MOUNT_ATTR_RDONLY),
    ("rrw", true, MOUNT_ATTR_RDONLY),
    ("rnosuid", false, MOUNT_ATTR_NOSUID),
    ("rsuid", true, MOUNT_ATTR_NOSUID),
    ("rnodev", false, MOUNT_ATTR_NODEV),
    ("rdev", true, MOUNT_ATTR_NODEV),
    ("rnoexec", false, MOUNT_ATTR_NOEXEC),
    ("rexec", true, MOUNT_ATTR_NOEXEC),
    ("rnodiratime", false, MOUNT_ATTR_NODIRATIME),
    ("rdiratime", true, MOUNT_ATTR_NODIRATIME),
    ("rnoatime", false, MOUNT_ATTR_NOATIME),
    ("rstrictatime", false, MOUNT_ATTR_STRICTATIME),
    ("rrelatime", false, 0),
    ("rnosymfollow", false, MOUNT_ATTR_NOSYMFOLLOW),
    ("rsymfollow", true, MOUNT_ATTR_NOSYMFOLLOW),
];

/// Options engines send that are not for the kernel (podman's, crun's extensions).
const IGNORED: &[&str] = &[
    "tmpcopyup",
    "notmpcopyup",
    "copy-symlink",
    "idmap",
    "ridmap",
    "z",
    "Z",
    "U",
];

/// The propagation flag of a name (`rslave`, `private`, …), as rootfsPropagation takes it.
pub fn propagation_flag(name: &str) -> Option<u64> {
    Some(match name {
        "private" => libc::MS_PRIVATE,
        "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
        "shared" => libc::MS_SHARED,
        "rshared" => libc::MS_SHARED | libc::MS_REC,
        "slave" => libc::MS_SLAVE,
        "rslave" => libc::MS_SLAVE | libc::MS_REC,
        "unbindable" => libc::MS_UNBINDABLE,
        "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
        _ => return None,
    })
}

pub fn parse(options: &[String]) -> MountOptions {
    let mut o = MountOptions::default();
    let mut data = Vec::new();
    for opt in options {
        let opt = opt.as_str();
        if let Some(&(_, clear, f)) = FLAGS.iter().find(|(n, _, _)| *n == opt) {
            if clear {
                o.flags &= !f
            } else {
                o.flags |= f
            }
        } else if let Some(p) = propagation_flag(opt) {
            o.propagation.push(p);
        } else if let Some(&(name, clear, a)) = ATTRS.iter().find(|(n, _, _)| *n == opt) {
            if name.ends_with("atime") && !clear {
                o.attr_clr |= MOUNT_ATTR_ATIME_MASK;
            }
            if clear {
                o.attr_clr |= a;
                o.attr_set &= !a
            } else {
                o.attr_set |= a
            }
        } else if !IGNORED.contains(&opt) {
            data.push(opt);
        }
    }
    o.data = data.join(",");
    o
}

/// A flag's option name, for error messages (runc prints flags by name too).
pub fn flag_names(flags: u64) -> String {
    let names: Vec<&str> = FLAGS
        .iter()
        .filter(|(n, clear, f)| {
            !clear && *f != 0 && flags & f == *f && !(*n == "bind" && flags & libc::MS_REC != 0)
        })
        .map(|(n, _, _)| *n)
        .collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn flags_and_data() {
        let o = parse(&s(&["nosuid", "noexec", "mode=755", "size=65536k", "ro"]));
        assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_RDONLY);
        assert_eq!(o.data, "mode=755,size=65536k");
    }

    #[test]
    fn clearing_and_binds() {
        let o = parse(&s(&["ro", "rw", "rbind"]));
        assert_eq!(o.flags, libc::MS_BIND | libc::MS_REC);
    }

    #[test]
    fn propagation_and_attrs() {
        let o = parse(&s(&["rslave", "rro", "tmpcopyup"]));
        assert_eq!(o.propagation, vec![libc::MS_SLAVE | libc::MS_REC]);
        assert_eq!(o.attr_set, MOUNT_ATTR_RDONLY);
        assert_eq!(o.data, "");
    }

    #[test]
    fn names() {
        assert_eq!(flag_names(libc::MS_RDONLY | libc::MS_NOSUID), "nosuid,ro");
    }
}
