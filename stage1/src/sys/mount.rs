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

/// A file-system context from `fsopen(2)`, configured with `fsconfig(2)` and turned into
/// a detached mount with `fsmount(2)`: the new mount API, which mounts nothing into any
/// namespace until asked (here it never is).
pub struct FsContext(std::os::fd::OwnedFd);

const FSOPEN_CLOEXEC: u32 = 0x1;
const FSMOUNT_CLOEXEC: u32 = 0x1;
const FSCONFIG_SET_STRING: u32 = 1;
const FSCONFIG_SET_FD: u32 = 5;
const FSCONFIG_CMD_CREATE: u32 = 6;

pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;

impl FsContext {
    /// `fsopen(fstype, FSOPEN_CLOEXEC)`.
    pub fn open(fstype: &CStr) -> io::Result<FsContext> {
        use std::os::fd::FromRawFd;
        // SAFETY: a valid C string; fsopen only returns a new fd.
        let fd = cvt(unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) })?;
        let fd = i32::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
        // SAFETY: a new fd that nothing else owns.
        Ok(FsContext(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }))
    }

    fn config(
        &self,
        cmd: u32,
        key: Option<&CStr>,
        value: Option<&CStr>,
        aux: i32,
    ) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let p = |s: Option<&CStr>| s.map_or(std::ptr::null(), CStr::as_ptr);
        // SAFETY: the context fd is live; key and value are NULL or valid C strings that
        // outlive the call; `aux` is an fd number or 0, as `cmd` requires.
        cvt(unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                self.0.as_raw_fd(),
                cmd,
                p(key),
                p(value),
                aux,
            )
        })
        .map(drop)
    }

    /// `fsconfig(FSCONFIG_SET_STRING, key, value)`.
    pub fn set_string(&self, key: &CStr, value: &CStr) -> io::Result<()> {
        self.config(FSCONFIG_SET_STRING, Some(key), Some(value), 0)
    }

    /// `fsconfig(FSCONFIG_SET_FD, key, fd)`.
    pub fn set_fd(&self, key: &CStr, fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        self.config(FSCONFIG_SET_FD, Some(key), None, fd.as_raw_fd())
    }

    /// `fsconfig(FSCONFIG_CMD_CREATE)` then `fsmount(…, attrs)`: the superblock as a
    /// detached mount, returned as an fd of its root.
    pub fn mount(self, attrs: u64) -> io::Result<std::os::fd::OwnedFd> {
        use std::os::fd::{AsRawFd, FromRawFd};
        self.config(FSCONFIG_CMD_CREATE, None, None, 0)?;
        // SAFETY: integer arguments on a live context fd; fsmount only returns a new fd.
        let fd = cvt(unsafe {
            libc::syscall(
                libc::SYS_fsmount,
                self.0.as_raw_fd(),
                FSMOUNT_CLOEXEC,
                attrs,
            )
        })?;
        let fd = i32::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
        // SAFETY: a new fd that nothing else owns.
        Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
    }
}
