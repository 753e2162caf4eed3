//! Every libc call of the checker, behind safe functions.

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Host and domain name from uname(2).
pub struct Uts {
    pub nodename: String,
    pub domainname: String,
}

pub fn uname() -> io::Result<Uts> {
    // SAFETY: utsname is plain old data (arrays of c_char); all zeroes is a valid value.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname that outlives the call.
    if unsafe { libc::uname(&mut u) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let field = |f: &[libc::c_char]| {
        // SAFETY: uname(2) NUL-terminates every field inside its fixed-size array, and
        // `f` borrows that array from `u`, which lives until this closure returns.
        unsafe { CStr::from_ptr(f.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    Ok(Uts {
        nodename: field(&u.nodename),
        domainname: field(&u.domainname),
    })
}

/// (soft, hard) of one resource limit.
pub fn getrlimit(resource: libc::__rlimit_resource_t) -> io::Result<(u64, u64)> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid, writable rlimit that outlives the call.
    if unsafe { libc::getrlimit(resource, &mut r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((r.rlim_cur, r.rlim_max))
}

/// Real and effective user and group ids.
pub struct Ids {
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
}

pub fn ids() -> Ids {
    // SAFETY: these four calls take no arguments and cannot fail.
    unsafe {
        Ids {
            uid: libc::getuid(),
            euid: libc::geteuid(),
            gid: libc::getgid(),
            egid: libc::getegid(),
        }
    }
}

/// The supplementary groups.
pub fn getgroups() -> io::Result<Vec<u32>> {
    // SAFETY: a size of 0 asks for the count only; the pointer is not written.
    let n = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
    let len = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    let mut v: Vec<libc::gid_t> = vec![0; len];
    // SAFETY: `v` has room for exactly `n` gids, and `n` is what we pass.
    let got = unsafe { libc::getgroups(n, v.as_mut_ptr()) };
    let got = usize::try_from(got).map_err(|_| io::Error::last_os_error())?;
    v.truncate(got);
    Ok(v)
}

/// Whether the mount holding `path` is read-only (statvfs(3) `ST_RDONLY`).
pub fn is_readonly_mount(path: &Path) -> io::Result<bool> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: statvfs is plain old data; all zeroes is a valid value.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `st` a valid, writable statvfs, both
    // alive for the call.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_flag & libc::ST_RDONLY != 0)
}

/// Whether `fd` is a terminal.
pub fn isatty(fd: i32) -> bool {
    // SAFETY: isatty(3) only inspects the descriptor number; a bad one gives 0.
    unsafe { libc::isatty(fd) == 1 }
}
