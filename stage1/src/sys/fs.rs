//! File-system syscalls on fds: openat2 with resolve flags, *at() creation calls, stat,
//! close_range, flock.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use super::{cstr, cvt, retry};

pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;
pub const RESOLVE_IN_ROOT: u64 = 0x10;

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `openat2(2)`: opens `path` relative to `dir` with `resolve` restrictions.
pub fn openat2(
    dir: BorrowedFd<'_>,
    path: &Path,
    flags: i32,
    mode: u32,
    resolve: u64,
) -> io::Result<OwnedFd> {
    let c = cstr(path)?;
    let how = OpenHow {
        flags: u64::from((flags | libc::O_CLOEXEC).cast_unsigned()),
        mode: u64::from(mode),
        resolve,
    };
    let fd = retry(|| {
        // SAFETY: `c` is a valid NUL-terminated string and `how` a valid open_how that
        // outlive the call; the size passed is the struct's own.
        unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                c.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        }
    })?;
    let fd = RawFd::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `openat(2)`, always with O_CLOEXEC.
pub fn openat(
    dir: Option<BorrowedFd<'_>>,
    path: &Path,
    flags: i32,
    mode: u32,
) -> io::Result<OwnedFd> {
    let c = cstr(path)?;
    let dirfd = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    let fd = retry(|| {
        // SAFETY: `c` is a valid C string for the duration of the call.
        unsafe { libc::openat(dirfd, c.as_ptr(), flags | libc::O_CLOEXEC, mode) }
    })?;
    // SAFETY: a new fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `mkdirat(2)`.
pub fn mkdirat(dir: BorrowedFd<'_>, name: &Path, mode: u32) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: valid C string, dir is a live fd.
    cvt(unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), mode) }).map(drop)
}

/// `mknodat(2)`.
pub fn mknodat(dir: BorrowedFd<'_>, name: &Path, mode: u32, dev: u64) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: valid C string, dir is a live fd.
    cvt(unsafe { libc::mknodat(dir.as_raw_fd(), c.as_ptr(), mode, dev) }).map(drop)
}

/// `symlinkat(2)`: creates `name` in `dir` pointing at `target`.
pub fn symlinkat(target: &Path, dir: BorrowedFd<'_>, name: &Path) -> io::Result<()> {
    let t = cstr(target)?;
    let n = cstr(name)?;
    // SAFETY: valid C strings, dir is a live fd.
    cvt(unsafe { libc::symlinkat(t.as_ptr(), dir.as_raw_fd(), n.as_ptr()) }).map(drop)
}

/// `mkfifo(3)` on a host path.
pub fn mkfifo(path: &Path, mode: u32) -> io::Result<()> {
    let c = cstr(path)?;
    // SAFETY: valid C string.
    cvt(unsafe { libc::mkfifo(c.as_ptr(), mode) }).map(drop)
}

/// `fchownat(fd, "", …, AT_EMPTY_PATH)`: chown the object an fd (even O_PATH) refers to.
pub fn fchown(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: an empty C string literal and a live fd.
    cvt(unsafe { libc::fchownat(fd.as_raw_fd(), c"".as_ptr(), uid, gid, libc::AT_EMPTY_PATH) })
        .map(drop)
}

/// `fchmod(2)` through /proc/self/fd for O_PATH fds is racy; callers pass a real fd.
pub fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    // SAFETY: a live fd.
    cvt(unsafe { libc::fchmod(fd.as_raw_fd(), mode) }).map(drop)
}

/// `fstat(2)`, also on O_PATH fds (through AT_EMPTY_PATH).
pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is writable memory of the right size; the fd is live.
    cvt(unsafe {
        libc::fstatat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            st.as_mut_ptr(),
            libc::AT_EMPTY_PATH,
        )
    })?;
    // SAFETY: fstatat succeeded and filled the struct.
    Ok(unsafe { st.assume_init() })
}

/// `fstatvfs(3)`: the mount flags (`f_flag`, ST_* bits) of the mount holding `fd`.
pub fn fstatfs_flags(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `st` is writable memory of the right size; the fd is live.
    cvt(unsafe { libc::fstatvfs(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstatvfs succeeded and filled the struct.
    let st = unsafe { st.assume_init() };
    Ok(st.f_flag)
}

/// `close_range(first, last, 0)`: closes the fds from `first` to `last`.
pub fn close_range(first: u32, last: u32) -> io::Result<()> {
    // SAFETY: closing fds passes no memory; the caller owns no live handle to them
    // (used only in a child that is about to wait and exit).
    cvt(unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) }).map(drop)
}

/// `close_range(first, ~0, CLOSE_RANGE_CLOEXEC)`: marks every fd from `first` up
/// close-on-exec, so exec leaves only 0..first open in the new program.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;
    // SAFETY: close_range only changes fd flags; no memory is passed.
    cvt(unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) })
        .map(drop)
}

/// Clears FD_CLOEXEC on an fd we hand to the container (preserved fds).
pub fn clear_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on an integer fd; a bad fd only yields EBADF.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) }).map(drop)
}

/// `umask(2)`; returns the previous mask.
pub fn umask(mask: u32) -> u32 {
    // SAFETY: umask cannot fail and touches no memory.
    unsafe { libc::umask(mask) }
}

/// `fchdir(2)`.
pub fn fchdir(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: a live fd.
    cvt(unsafe { libc::fchdir(fd.as_raw_fd()) }).map(drop)
}

/// `chdir(2)`.
pub fn chdir(path: &Path) -> io::Result<()> {
    let c = cstr(path)?;
    // SAFETY: valid C string.
    cvt(unsafe { libc::chdir(c.as_ptr()) }).map(drop)
}

/// `chroot(2)`.
pub fn chroot(path: &Path) -> io::Result<()> {
    let c = cstr(path)?;
    // SAFETY: valid C string.
    cvt(unsafe { libc::chroot(c.as_ptr()) }).map(drop)
}

/// `flock(2)` exclusive, blocking.
pub fn flock_exclusive(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: a live fd; flock takes no memory.
    retry(|| unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX) }).map(drop)
}

/// Reads one byte; `Ok(None)` at end of file.
pub fn read_byte(fd: BorrowedFd<'_>) -> io::Result<Option<u8>> {
    let mut b = 0u8;
    let n = retry(|| {
        // SAFETY: one writable byte at `b`.
        unsafe { libc::read(fd.as_raw_fd(), (&mut b as *mut u8).cast(), 1) }
    })?;
    Ok((n == 1).then_some(b))
}

/// Writes all of `buf` to a raw fd.
pub fn write_all(fd: BorrowedFd<'_>, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        let n = retry(|| {
            // SAFETY: `buf` is valid readable memory of `buf.len()` bytes.
            unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) }
        })?;
        let n = usize::try_from(n).map_err(|_| io::Error::from_raw_os_error(libc::EIO))?;
        buf = &buf[n..];
    }
    Ok(())
}

/// `poll(2)` on one fd for `events`; `timeout_ms` < 0 waits forever. Returns revents.
pub fn poll_one(fd: BorrowedFd<'_>, events: i16, timeout_ms: i32) -> io::Result<i16> {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    retry(|| unsafe { libc::poll(&mut p, 1, timeout_ms) })?;
    Ok(p.revents)
}

/// `dup2(2)` onto a fixed number (clears CLOEXEC on the new fd).
pub fn dup2(fd: BorrowedFd<'_>, to: RawFd) -> io::Result<()> {
    // SAFETY: dup2 on integer fds; `to` being replaced is the intent.
    retry(|| unsafe { libc::dup2(fd.as_raw_fd(), to) }).map(drop)
}

/// A `/proc/self/fd/N` path for an fd: how the legacy mount API mounts onto an fd.
pub fn fd_path(fd: BorrowedFd<'_>) -> CString {
    // A formatted integer never contains NUL.
    CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap_or_default()
}

/// `unlinkat(2)` of a non-directory.
pub fn unlinkat(dir: BorrowedFd<'_>, name: &Path) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: valid C string, live fd.
    cvt(unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0) }).map(drop)
}

/// `poll(2)` on several fds; returns how many have events.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    let n = libc::nfds_t::try_from(fds.len())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `fds` is a valid, writable array of `n` pollfds.
    let r = retry(|| unsafe { libc::poll(fds.as_mut_ptr(), n, timeout_ms) })?;
    usize::try_from(r).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// `readlinkat(2)`.
pub fn readlinkat(dir: BorrowedFd<'_>, name: &Path) -> io::Result<std::path::PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    let c = cstr(name)?;
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: `buf` is writable for its length; valid C string; live fd.
    let n = cvt(unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            c.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    })?;
    buf.truncate(usize::try_from(n).unwrap_or(0));
    Ok(std::path::PathBuf::from(std::ffi::OsString::from_vec(buf)))
}

/// `bpf(BPF_PROG_LOAD)` of a cgroup-device program; returns the program fd.
pub fn bpf_load_cgroup_device(insns: &[u64]) -> io::Result<OwnedFd> {
    const BPF_PROG_LOAD: i64 = 5;
    const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
    let mut attr = [0u8; 128];
    let cnt = u32::try_from(insns.len()).map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?;
    let license = c"Apache-2.0";
    attr[0..4].copy_from_slice(&BPF_PROG_TYPE_CGROUP_DEVICE.to_ne_bytes());
    attr[4..8].copy_from_slice(&cnt.to_ne_bytes());
    attr[8..16].copy_from_slice(&(insns.as_ptr() as u64).to_ne_bytes());
    attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
    // SAFETY: `attr` is a bpf_attr for BPF_PROG_LOAD (prog_type, insn_cnt, insns,
    // license; the rest zero) whose pointers stay valid for the call.
    let fd =
        cvt(unsafe { libc::syscall(libc::SYS_bpf, BPF_PROG_LOAD, attr.as_ptr(), attr.len()) })?;
    let fd = RawFd::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: a new fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `bpf(BPF_PROG_ATTACH)` of a cgroup-device program to a cgroup directory, allowing
/// other programs beside it (BPF_F_ALLOW_MULTI).
pub fn bpf_attach_cgroup_device(cgroup: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> io::Result<()> {
    const BPF_PROG_ATTACH: i64 = 8;
    const BPF_CGROUP_DEVICE: u32 = 6;
    const BPF_F_ALLOW_MULTI: u32 = 2;
    let mut attr = [0u8; 32];
    attr[0..4].copy_from_slice(&cgroup.as_raw_fd().cast_unsigned().to_ne_bytes());
    attr[4..8].copy_from_slice(&prog.as_raw_fd().cast_unsigned().to_ne_bytes());
    attr[8..12].copy_from_slice(&BPF_CGROUP_DEVICE.to_ne_bytes());
    attr[12..16].copy_from_slice(&BPF_F_ALLOW_MULTI.to_ne_bytes());
    // SAFETY: a bpf_attr for BPF_PROG_ATTACH (target fd, program fd, attach type, flags).
    cvt(unsafe { libc::syscall(libc::SYS_bpf, BPF_PROG_ATTACH, attr.as_ptr(), attr.len()) })
        .map(drop)
}

/// Closes an fd number inherited from the parent in a freshly cloned child.
///
/// # Safety
/// Nothing in this process may use `fd` afterwards (the parent's owning object is a
/// copy that is never touched in the child).
pub unsafe fn close_inherited(fd: RawFd) {
    // SAFETY: guaranteed by the caller; close on a bad fd only returns EBADF.
    unsafe { libc::close(fd) };
}

/// `memfd_create(2)` with sealing allowed (and MFD_EXEC where the kernel knows it, for
/// hosts with vm.memfd_noexec set).
pub fn memfd_create_sealable(name: &std::ffi::CStr) -> io::Result<OwnedFd> {
    const MFD_EXEC: u32 = 0x10;
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: a valid C string; memfd_create only returns a new fd.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), flags | MFD_EXEC) };
    let fd = if fd < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
        // Kernels before 6.3 reject MFD_EXEC; their memfds are executable anyway.
        // SAFETY: as above.
        cvt(unsafe { libc::memfd_create(name.as_ptr(), flags) })?
    } else {
        cvt(fd)?
    };
    // SAFETY: a new fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The seals of a memfd (`F_GET_SEALS`); an error for anything else.
pub fn get_seals(fd: BorrowedFd<'_>) -> io::Result<i32> {
    // SAFETY: fcntl with an integer command on a live fd.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) })
}

/// Adds seals to a memfd (`F_ADD_SEALS`).
pub fn add_seals(fd: BorrowedFd<'_>, seals: i32) -> io::Result<()> {
    // SAFETY: fcntl with integer arguments on a live fd.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) }).map(drop)
}

/// `fcntl(F_DUPFD_CLOEXEC)`: a close-on-exec copy of `fd` numbered `min` or above.
pub fn dup_cloexec_from(fd: BorrowedFd<'_>, min: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: fcntl with integer arguments on a live fd; the result is a new fd.
    let new = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) })?;
    // SAFETY: a new fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`: runs the program an fd holds;
/// returns only on failure.
pub fn fexecve(
    fd: BorrowedFd<'_>,
    argv: &super::CStrArray<'_>,
    envp: &super::CStrArray<'_>,
) -> io::Error {
    // SAFETY: an empty C string with AT_EMPTY_PATH on a live fd; argv and envp are
    // NULL-terminated arrays of valid C strings that outlive the call.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    io::Error::last_os_error()
}

pub const RESOLVE_NO_XDEV: u64 = 0x01;
pub const RESOLVE_BENEATH: u64 = 0x08;
pub const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// `fstatfs(2)`'s f_type: which file system an fd lives on.
pub fn fs_type(fd: BorrowedFd<'_>) -> io::Result<i64> {
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `st` is writable memory of the right size; the fd is live.
    cvt(unsafe { libc::fstatfs(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstatfs succeeded and filled the struct.
    Ok(unsafe { st.assume_init() }.f_type)
}
