//! Mount syscalls: mount(2) (onto fds through /proc/self/fd), umount2, pivot_root.

use std::ffi::{CStr, CString};
use std::io;
use std::path::Path;

use super::{cstr, cvt};

/// `mount(2)`. `target` is usually a `/proc/self/fd/N` path made by `fd_path`.
pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: u64,
    data: Option<&CStr>,
) -> io::Result<()> {
    let p = |s: Option<&CStr>| s.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: every pointer is NULL or a valid NUL-terminated string alive for the call.
    cvt(unsafe { libc::mount(p(source), target.as_ptr(), p(fstype), flags, p(data).cast()) })
        .map(drop)
}

/// `mount(2)` with a host path target.
pub fn mount_path(
    source: Option<&CStr>,
    target: &Path,
    fstype: Option<&CStr>,
    flags: u64,
    data: Option<&CStr>,
) -> io::Result<()> {
    let t: CString = cstr(target)?;
    mount(source, &t, fstype, flags, data)
}

/// `umount2(2)`.
pub fn umount2(target: &Path, flags: i32) -> io::Result<()> {
    let c = cstr(target)?;
    // SAFETY: valid C string.
    cvt(unsafe { libc::umount2(c.as_ptr(), flags) }).map(drop)
}

/// `pivot_root(".", ".")`: the new root is the cwd; the old root is stacked on it.
pub fn pivot_root_here() -> io::Result<()> {
    // SAFETY: two static C strings.
    cvt(unsafe { libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) }).map(drop)
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE)`: change attributes of a whole
/// mount tree at once (the `rro`, `rnosuid`, … options).
pub fn mount_setattr_recursive(
    fd: std::os::fd::BorrowedFd<'_>,
    set: u64,
    clr: u64,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clr,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: `attr` is a valid mount_attr of the size passed; the path is a static
    // empty C string used with AT_EMPTY_PATH on a live fd.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}
