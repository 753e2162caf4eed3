//! Parsers for the /proc files the checks read: `status`, `mountinfo`, `uid_map` /
//! `gid_map`, `timens_offsets` and `cgroup`. They take text, so that the unit tests
//! below feed them samples; the checks read the files.

use std::collections::BTreeMap;

/// The fields of /proc/self/status the checks use.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub cap_inh: u64,
    pub cap_prm: u64,
    pub cap_eff: u64,
    pub cap_bnd: u64,
    pub cap_amb: u64,
    /// `NoNewPrivs:` (kernel 4.10+).
    pub no_new_privs: Option<bool>,
    /// `Umask:` (kernel 4.7+), octal in the file.
    pub umask: Option<u32>,
    /// `Seccomp:` mode: 0 none, 1 strict, 2 filter.
    pub seccomp: Option<u32>,
}

pub fn parse_status(text: &str) -> Result<Status, String> {
    let fields: BTreeMap<&str, &str> = text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    let hex = |key: &str| -> Result<u64, String> {
        let v = fields
            .get(key)
            .ok_or_else(|| format!("no {key} in /proc/self/status"))?;
        u64::from_str_radix(v, 16).map_err(|e| format!("{key} {v:?}: {e}"))
    };
    let no_new_privs = match fields.get("NoNewPrivs") {
        None => None,
        Some(&"0") => Some(false),
        Some(&"1") => Some(true),
        Some(v) => return Err(format!("NoNewPrivs {v:?}")),
    };
    let umask = match fields.get("Umask") {
        None => None,
        Some(v) => Some(u32::from_str_radix(v, 8).map_err(|e| format!("Umask {v:?}: {e}"))?),
    };
    let seccomp = match fields.get("Seccomp") {
        None => None,
        Some(v) => Some(v.parse().map_err(|e| format!("Seccomp {v:?}: {e}"))?),
    };
    Ok(Status {
        cap_inh: hex("CapInh")?,
        cap_prm: hex("CapPrm")?,
        cap_eff: hex("CapEff")?,
        cap_bnd: hex("CapBnd")?,
        cap_amb: hex("CapAmb")?,
        no_new_privs,
        umask,
        seccomp,
    })
}

/// One line of /proc/self/mountinfo (proc(5)), escapes decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    pub id: u32,
    pub parent: u32,
    /// The path inside its file system that is mounted here (a bind mount's source).
    pub root: String,
    pub mount_point: String,
    /// Per-mount options: `ro`/`rw`, `nosuid`, `nodev`, `noexec`, atime flags.
    pub mount_options: Vec<String>,
    /// Propagation tags: `shared:N`, `master:N`, `propagate_from:N`, `unbindable`.
    pub optional: Vec<String>,
    pub fstype: String,
    pub source: String,
    /// Per-superblock options (the file system's own: `mode=755`, `size=65536k`, …).
    pub super_options: Vec<String>,
}

impl MountInfo {
    pub fn has_option(&self, opt: &str) -> bool {
        self.mount_options.iter().any(|o| o == opt)
    }

    /// The value of a superblock option `key=value`, if present.
    pub fn super_option(&self, key: &str) -> Option<&str> {
        self.super_options
            .iter()
            .find_map(|o| o.strip_prefix(key)?.strip_prefix('='))
    }

    pub fn is_shared(&self) -> bool {
        self.optional.iter().any(|o| o.starts_with("shared:"))
    }

    pub fn is_slave(&self) -> bool {
        self.optional.iter().any(|o| o.starts_with("master:"))
    }

    pub fn is_unbindable(&self) -> bool {
        self.optional.iter().any(|o| o == "unbindable")
    }
}

/// Decodes the octal escapes (`\040` for a space, `\134` for a backslash) the kernel
/// writes into mountinfo paths.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            let oct = &b[i + 1..i + 4];
            if oct.iter().all(|c| (b'0'..=b'7').contains(c)) {
                let v = oct
                    .iter()
                    .fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
                if let Ok(byte) = u8::try_from(v) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse_mountinfo(text: &str) -> Result<Vec<MountInfo>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(parse_mountinfo_line)
        .collect()
}

fn parse_mountinfo_line(line: &str) -> Result<MountInfo, String> {
    let bad = || format!("bad mountinfo line {line:?}");
    let fields: Vec<&str> = line.split(' ').collect();
    let sep = fields.iter().position(|f| *f == "-").ok_or_else(bad)?;
    if sep < 6 || fields.len() < sep + 3 {
        return Err(bad());
    }
    let split = |s: &str| {
        s.split(',')
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect()
    };
    Ok(MountInfo {
        id: fields[0].parse().map_err(|_| bad())?,
        parent: fields[1].parse().map_err(|_| bad())?,
        root: unescape(fields[3]),
        mount_point: unescape(fields[4]),
        mount_options: split(fields[5]),
        optional: fields[6..sep].iter().map(|s| (*s).to_owned()).collect(),
        fstype: unescape(fields[sep + 1]),
        source: unescape(fields[sep + 2]),
        super_options: fields.get(sep + 3).map(|s| split(s)).unwrap_or_default(),
    })
}

/// One line of /proc/self/uid_map or gid_map, as seen from inside the namespace:
/// the first id inside, the first id in the parent namespace, the length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct IdMap {
    pub inside: u64,
    pub outside: u64,
    pub count: u64,
}

pub fn parse_id_map(text: &str) -> Result<Vec<IdMap>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let n: Vec<u64> = l
                .split_whitespace()
                .map(str::parse)
                .collect::<Result<_, _>>()
                .map_err(|e| format!("bad id map line {l:?}: {e}"))?;
            match n[..] {
                [inside, outside, count] => Ok(IdMap {
                    inside,
                    outside,
                    count,
                }),
                _ => Err(format!("bad id map line {l:?}")),
            }
        })
        .collect()
}

/// /proc/self/timens_offsets: clock name to (seconds, nanoseconds).
pub fn parse_timens_offsets(text: &str) -> Result<BTreeMap<String, (i64, i64)>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let bad = |e: &dyn std::fmt::Display| format!("bad timens_offsets line {l:?}: {e}");
            match f[..] {
                [clock, secs, nanos] => Ok((
                    clock.to_owned(),
                    (
                        secs.parse().map_err(|e| bad(&e))?,
                        nanos.parse().map_err(|e| bad(&e))?,
                    ),
                )),
                _ => Err(bad(&"expected 3 fields")),
            }
        })
        .collect()
}

/// One line of /proc/self/cgroup: hierarchy id, controllers, path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupLine {
    pub hierarchy: u32,
    pub controllers: Vec<String>,
    pub path: String,
}

pub fn parse_proc_cgroup(text: &str) -> Result<Vec<CgroupLine>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut it = l.splitn(3, ':');
            let (Some(id), Some(ctrl), Some(path)) = (it.next(), it.next(), it.next()) else {
                return Err(format!("bad cgroup line {l:?}"));
            };
            Ok(CgroupLine {
                hierarchy: id
                    .parse()
                    .map_err(|e| format!("bad cgroup line {l:?}: {e}"))?,
                controllers: ctrl
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect(),
                path: path.to_owned(),
            })
        })
        .collect()
}

/// The major number of a `dev_t` (glibc's `gnu_dev_major` encoding).
pub fn major(dev: u64) -> u64 {
    ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)
}

/// The minor number of a `dev_t`.
pub fn minor(dev: u64) -> u64 {
    (dev & 0xff) | ((dev >> 12) & 0xffff_ff00)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields() {
        let text = "Name:\truntimetest\nUmask:\t0022\nState:\tR (running)\n\
            CapInh:\t0000000000000000\nCapPrm:\t0000000020000420\nCapEff:\t0000000020000420\n\
            CapBnd:\t000001fffeffffff\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t0\n";
        let s = parse_status(text).unwrap();
        assert_eq!(s.cap_prm, 0x2000_0420);
        assert_eq!(s.cap_bnd, 0x1ff_feff_ffff);
        assert_eq!(s.umask, Some(0o22));
        assert_eq!(s.no_new_privs, Some(true));
        assert_eq!(s.seccomp, Some(0));
    }

    #[test]
    fn status_old_kernel_and_errors() {
        let text = "CapInh:\t0\nCapPrm:\t0\nCapEff:\t0\nCapBnd:\tff\nCapAmb:\t0\n";
        let s = parse_status(text).unwrap();
        assert_eq!((s.no_new_privs, s.umask, s.cap_bnd), (None, None, 0xff));
        assert!(parse_status("CapInh:\t0\n").is_err());
        assert!(parse_status(&format!("{text}NoNewPrivs:\t2\n")).is_err());
    }

    #[test]
    fn mountinfo_lines() {
        let text = "65 43 254:0 /tmp/b/rootfs / rw,relatime - ext4 /dev/vda rw,discard\n\
            67 65 0:41 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755\n\
            90 65 0:50 / /with\\040space ro,nodev shared:7 master:3 - tmpfs none ro\n\
            91 65 0:51 / /empty rw unbindable - mqueue mqueue\n";
        let m = parse_mountinfo(text).unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!(m[0].root, "/tmp/b/rootfs");
        assert_eq!(m[0].mount_point, "/");
        assert!(m[0].optional.is_empty() && !m[0].is_shared());
        assert_eq!(m[1].super_option("mode"), Some("755"));
        assert_eq!(m[1].super_option("size"), Some("65536k"));
        assert!(m[1].has_option("nosuid") && !m[1].has_option("ro"));
        assert_eq!(m[2].mount_point, "/with space");
        assert!(m[2].is_shared() && m[2].is_slave() && m[2].has_option("ro"));
        assert!(m[3].is_unbindable() && m[3].super_options.is_empty());
        assert!(parse_mountinfo("1 2 3\n").is_err());
    }

    #[test]
    fn unescape_octal() {
        assert_eq!(unescape("/a\\040b\\011c\\134d"), "/a b\tc\\d");
        assert_eq!(unescape("/trailing\\04"), "/trailing\\04");
        assert_eq!(unescape("/not\\999octal"), "/not\\999octal");
    }

    #[test]
    fn id_maps() {
        let m =
            parse_id_map("         0       1000          1\n         1     100000      65536\n")
                .unwrap();
        assert_eq!(
            m,
            vec![
                IdMap {
                    inside: 0,
                    outside: 1000,
                    count: 1
                },
                IdMap {
                    inside: 1,
                    outside: 100_000,
                    count: 65536
                }
            ]
        );
        assert!(parse_id_map("0 1\n").is_err());
        assert!(parse_id_map("0 x 1\n").is_err());
    }

    #[test]
    fn timens() {
        let t = parse_timens_offsets("monotonic           10         0\nboottime      -5   200\n")
            .unwrap();
        assert_eq!(t["monotonic"], (10, 0));
        assert_eq!(t["boottime"], (-5, 200));
        assert!(parse_timens_offsets("monotonic 1\n").is_err());
    }

    #[test]
    fn proc_cgroup() {
        let c =
            parse_proc_cgroup("12:pids:/x\n1:name=systemd:/x\n0::/\n4:cpu,cpuacct:/a:b\n").unwrap();
        assert_eq!(c[0].controllers, vec!["pids"]);
        assert_eq!(
            c[2],
            CgroupLine {
                hierarchy: 0,
                controllers: vec![],
                path: "/".into()
            }
        );
        assert_eq!(c[3].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(c[3].path, "/a:b");
        assert!(parse_proc_cgroup("nonsense\n").is_err());
    }

    #[test]
    fn dev_numbers() {
        // makedev(1, 3) and a large one, makedev(259, 0x12345).
        assert_eq!((major(0x103), minor(0x103)), (1, 3));
        let dev = (0x45 & 0xff) | ((259 & 0xfff) << 8) | ((0x12345 & !0xff) << 12);
        assert_eq!((major(dev), minor(dev)), (259, 0x12345));
    }
}
