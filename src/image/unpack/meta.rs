//! What an entry says about the object besides its name and data: owner, mode, times,
//! xattrs (from the ustar header and its PAX records), and the policy for which xattrs a
//! layer may set.
//!
//! Xattrs kept: `user.*` (on regular files and directories, the only objects the kernel
//! allows them on), `trusted.*` except `trusted.overlay.*`, and `security.capability`
//! (file capabilities, e.g. `ping`'s `cap_net_raw`). Dropped: `trusted.overlay.*`
//! (overlayfs reads redirect, metacopy and origin from these in a lower dir; only the
//! whiteout conversion sets `trusted.overlay.opaque`), the other `security.*` names
//! (SELinux labels, IMA/EVM belong to the host's policy, not to an image) and
//! `system.*` (ACLs come as `SCHILY.acl.*`, which we do not apply).
//!
//! Modes are kept whole, setuid, setgid and sticky bits included: they are data of the
//! layer that matter only inside a container. The layers directory is 0700 (see
//! `unpack_layer`), so no host user but root reaches a setuid file through it.

use std::ffi::OsString;
use std::io::{self, Read};
use std::os::unix::ffi::OsStringExt;

use super::sparse::PaxSparse;
use crate::sys::Times;

/// Owner, mode, times and xattrs of one entry.
#[derive(Debug, Clone)]
pub struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub times: Times,
    pub xattrs: Vec<(OsString, Vec<u8>)>,
}

/// Everything the PAX records of an entry say that the tar crate does not apply itself.
#[derive(Debug, Default)]
pub struct Pax {
    pub mtime: Option<libc::timespec>,
    pub atime: Option<libc::timespec>,
    pub xattrs: Vec<(OsString, Vec<u8>)>,
    pub sparse: PaxSparse,
}

/// Which header field could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("read its {field}")]
    Field {
        field: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("its {field} {value} does not fit 32 bits")]
    Range { field: &'static str, value: u64 },
}

fn field<T>(field: &'static str, r: io::Result<T>) -> Result<T, MetaError> {
    r.map_err(|source| MetaError::Field { field, source })
}

/// Reads the PAX records of `entry`.
pub fn pax<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Pax, MetaError> {
    let mut out = Pax::default();
    let Some(exts) = field("PAX records", entry.pax_extensions())? else {
        return Ok(out);
    };
    for ext in exts {
        let ext = field("PAX records", ext)?;
        let (key, value) = (ext.key_bytes(), ext.value_bytes());
        if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
            out.xattrs
                .push((OsString::from_vec(name.to_vec()), value.to_vec()));
        } else if key == b"mtime" {
            out.mtime = parse_time(value);
        } else if key == b"atime" {
            out.atime = parse_time(value);
        } else if key.starts_with(b"GNU.sparse.") {
            out.sparse.record(key, value);
        }
    }
    Ok(out)
}

/// Owner, mode and times from the header (PAX uid and gid already applied to it by the
/// tar crate), times and xattrs from the PAX records.
pub fn meta(header: &tar::Header, pax: &Pax) -> Result<Meta, MetaError> {
    let old = header.as_old();
    let mode = numeric("mode", &old.mode, header.mode().map(u64::from))? & 0o7777;
    let mode = u32::try_from(mode).unwrap_or(0);
    let uid = id("uid", numeric("uid", &old.uid, header.uid())?)?;
    let gid = id("gid", numeric("gid", &old.gid, header.gid())?)?;
    let mtime = match pax.mtime {
        Some(t) => t,
        None => seconds(numeric("mtime", &old.mtime, header.mtime())?),
    };
    let atime = pax.atime.unwrap_or(mtime);
    Ok(Meta {
        mode,
        uid,
        gid,
        times: [atime, mtime],
        xattrs: pax.xattrs.clone(),
    })
}

/// A numeric header field; one left empty (NULs or spaces) reads as 0, as Go's
/// archive/tar and GNU tar read it.
fn numeric(name: &'static str, raw: &[u8], parsed: io::Result<u64>) -> Result<u64, MetaError> {
    match parsed {
        Ok(v) => Ok(v),
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
        Err(e) => field(name, Err(e)),
    }
}

fn id(field: &'static str, value: u64) -> Result<u32, MetaError> {
    // u32::MAX is (uid_t)-1, which chown reads as "leave unchanged".
    u32::try_from(value)
        .ok()
        .filter(|v| *v != u32::MAX)
        .ok_or(MetaError::Range { field, value })
}

fn seconds(s: u64) -> libc::timespec {
    libc::timespec {
        tv_sec: i64::try_from(s).unwrap_or(i64::MAX),
        tv_nsec: 0,
    }
}

/// A PAX time: `[-]SECONDS[.FRACTION]`, the fraction cut to nanoseconds. `None` when
/// malformed (the header's whole-second time is used then).
pub fn parse_time(v: &[u8]) -> Option<libc::timespec> {
    let s = std::str::from_utf8(v).ok()?;
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let mut nanos: i64 = 0;
    for (i, b) in frac.bytes().take(9).enumerate() {
        nanos += i64::from(b - b'0') * 10i64.pow(8 - u32::try_from(i).ok()?);
    }
    Some(if !neg {
        libc::timespec {
            tv_sec: secs,
            tv_nsec: nanos,
        }
    } else if nanos == 0 {
        libc::timespec {
            tv_sec: -secs,
            tv_nsec: 0,
        }
    } else {
        libc::timespec {
            tv_sec: -secs - 1,
            tv_nsec: 1_000_000_000 - nanos,
        }
    })
}

/// The kind of object an xattr goes on, for the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    FileOrDir,
    Other,
}

/// Whether a layer may set the xattr `name` on an object of kind `target`.
pub fn keep_xattr(name: &[u8], target: Target) -> bool {
    if name.starts_with(b"user.") {
        return target == Target::FileOrDir && name.len() > 5;
    }
    if name.starts_with(b"trusted.") {
        return !name.starts_with(b"trusted.overlay.") && name.len() > 8;
    }
    name == b"security.capability" && target == Target::FileOrDir
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(sec: i64, nsec: i64) -> Option<(i64, i64)> {
        Some((sec, nsec))
    }

    fn t(v: &str) -> Option<(i64, i64)> {
        parse_time(v.as_bytes()).map(|t| (t.tv_sec, t.tv_nsec))
    }

    #[test]
    fn pax_times() {
        assert_eq!(t("1700000000"), ts(1_700_000_000, 0));
        assert_eq!(t("1700000000.5"), ts(1_700_000_000, 500_000_000));
        assert_eq!(t("1.123456789123"), ts(1, 123_456_789));
        assert_eq!(t("-1.5"), ts(-2, 500_000_000));
        assert_eq!(t("-3"), ts(-3, 0));
        assert_eq!(t(""), None);
        assert_eq!(t("1e9"), None);
        assert_eq!(t("1.2.3"), None);
        assert_eq!(t("99999999999999999999999"), None);
    }

    #[test]
    fn xattr_policy() {
        use Target::*;
        assert!(keep_xattr(b"user.foo", FileOrDir));
        assert!(!keep_xattr(b"user.foo", Other));
        assert!(!keep_xattr(b"user.", FileOrDir));
        assert!(keep_xattr(b"trusted.foo", FileOrDir));
        assert!(keep_xattr(b"trusted.foo", Other));
        assert!(!keep_xattr(b"trusted.overlay.redirect", FileOrDir));
        assert!(!keep_xattr(b"trusted.overlay.opaque", FileOrDir));
        assert!(keep_xattr(b"security.capability", FileOrDir));
        assert!(!keep_xattr(b"security.capability", Other));
        assert!(!keep_xattr(b"security.selinux", FileOrDir));
        assert!(!keep_xattr(b"system.posix_acl_access", FileOrDir));
        assert!(!keep_xattr(b"", FileOrDir));
    }

    #[test]
    fn ids_must_fit() {
        assert_eq!(id("uid", 1000).unwrap(), 1000);
        assert!(id("uid", u64::from(u32::MAX)).is_err());
        assert!(id("uid", 1 << 40).is_err());
    }
}
