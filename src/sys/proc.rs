//! Processes, namespaces and mounts for pods: `flock`, `mount`/`umount2`, `unshare`,
//! `setns`, `sethostname`, bringing loopback up, the child-subreaper flag, `kill`, `waitpid`,
//! blocking signals and waiting for them (`sigtimedwait`), `setsid`.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::Path;
use std::time::Duration;

use super::{cstr, cvt, owned, retry};

/// `flock(2)`: an exclusive or shared lock on the open file `fd`. With `wait` false
/// it returns `Ok(false)` instead of blocking when someone else holds the lock.
pub fn flock(fd: BorrowedFd<'_>, exclusive: bool, wait: bool) -> io::Result<bool> {
    let mut op = if exclusive {
        libc::LOCK_EX
    } else {
        libc::LOCK_SH
    };
    if !wait {
        op |= libc::LOCK_NB;
    }
    // SAFETY: flock takes an integer fd and reads no memory of ours.
    match retry(|| unsafe { libc::flock(fd.as_raw_fd(), op) }) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `mount(2)` with a path target; `source`, `fstype` and `data` may be absent.
pub fn mount(
    source: Option<&OsStr>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> io::Result<()> {
    let source = source.map(cstr).transpose()?;
    let target = cstr(target)?;
    let fstype = fstype.map(cstr).transpose()?;
    let data = data.map(cstr).transpose()?;
    let ptr = |c: &Option<std::ffi::CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: every pointer is either null or a NUL-terminated string owned by this
    // frame and alive for the call; mount copies what it needs.
    cvt(unsafe {
        libc::mount(
            ptr(&source),
            target.as_ptr(),
            ptr(&fstype),
            flags,
            ptr(&data).cast(),
        )
    })
    .map(drop)
}

/// `umount2(2)` with MNT_DETACH: the mount goes away now for new lookups and when its
/// last user is gone. `Ok(false)` when `target` was not a mount point.
pub fn umount_detach(target: &Path) -> io::Result<bool> {
    let target = cstr(target)?;
    // SAFETY: `target` is a NUL-terminated string alive for the call.
    match cvt(unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) }) {
        Ok(_) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOENT)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `unshare(2)` of the calling thread.
pub fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: unshare takes flags only.
    cvt(unsafe { libc::unshare(flags) }).map(drop)
}

/// `setns(2)` of the calling thread into the namespace `fd` refers to (`nstype`: one
/// CLONE_NEW* flag, checked by the kernel against what `fd` is).
pub fn setns(fd: BorrowedFd<'_>, nstype: libc::c_int) -> io::Result<()> {
    // SAFETY: setns takes an fd we borrow for the call and a flag.
    cvt(unsafe { libc::setns(fd.as_raw_fd(), nstype) }).map(drop)
}

/// `sethostname(2)` in the calling thread's UTS namespace.
pub fn sethostname(name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe `name`, alive for the call.
    cvt(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }).map(drop)
}

/// Sets IFF_UP on `lo` in the calling thread's network namespace.
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: socket takes integers and returns a new fd or -1.
    let sock = owned(i64::from(cvt(unsafe {
        libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)
    })?))?;
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: `req` is a valid ifreq that SIOCGIFFLAGS fills in; the fd is ours.
    cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) })?;
    // SAFETY: ifr_ifru is a union; after SIOCGIFFLAGS its flags member is the live one.
    unsafe {
        req.ifr_ifru.ifru_flags |= libc::c_short::try_from(libc::IFF_UP).unwrap_or(1);
    }
    // SAFETY: `req` names `lo` and holds the flags to set; the fd is ours.
    cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) }).map(drop)
}

/// Puts the calling thread under SCHED_IDLE: it runs only on a CPU with nothing else
/// to do.
pub fn sched_idle() -> io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid sched_param alive for the call; pid 0 is this thread.
    cvt(unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) }).map(drop)
}

/// `sched_yield(2)`: lets another runnable thread on this CPU run.
pub fn sched_yield() {
    // SAFETY: sched_yield takes no arguments and always succeeds on Linux.
    unsafe { libc::sched_yield() };
}

/// Makes this process a child subreaper: orphans below it are reparented to it (the
/// container inits a runtime's `create` leaves behind).
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer argument only.
    cvt(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }).map(drop)
}

/// `kill(2)`; a process already gone (ESRCH) is not an error.
pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    if pid <= 0 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: kill takes integers only; pid > 0 names one process, never a group.
    match cvt(unsafe { libc::kill(pid, sig) }) {
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
        r => r.map(drop),
    }
}

/// Whether a process `pid` exists (signal 0).
pub fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 checks existence only; pid > 0 names one process.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}

/// How a reaped child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    /// The shell's convention: the code, or 128 + the signal.
    pub fn status(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => 128 + s,
        }
    }
}

/// Reaps one exited child without blocking: `Ok(None)` when none has exited (or there
/// are no children).
pub fn reap_any() -> io::Result<Option<(i32, Exit)>> {
    let mut status = 0;
    // SAFETY: `status` is a valid int for waitpid to write.
    match retry(|| unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG | libc::__WALL) }) {
        Ok(0) => Ok(None),
        Ok(pid) => Ok(Some((pid, decode(status)))),
        Err(e) if e.raw_os_error() == Some(libc::ECHILD) => Ok(None),
        Err(e) => Err(e),
    }
}

fn decode(status: i32) -> Exit {
    if libc::WIFSIGNALED(status) {
        Exit::Signal(libc::WTERMSIG(status))
    } else {
        Exit::Code(libc::WEXITSTATUS(status))
    }
}

/// A set of signals blocked in the calling thread, to be taken with [`SignalSet::wait`].
pub struct SignalSet {
    set: libc::sigset_t,
}

impl SignalSet {
    /// Blocks `signals` in the calling thread. Children started with
    /// `std::process::Command` get an empty mask again (std resets it before exec).
    pub fn block(signals: &[i32]) -> io::Result<SignalSet> {
        // SAFETY: sigset_t is plain data; sigemptyset initialises it before use.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` is a valid sigset_t owned by this frame.
        unsafe { libc::sigemptyset(&mut set) };
        for &s in signals {
            // SAFETY: as above; an invalid signal number makes sigaddset fail.
            cvt(unsafe { libc::sigaddset(&mut set, s) })?;
        }
        // SAFETY: `set` is initialised; the old mask is not wanted (null).
        let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        if r != 0 {
            return Err(io::Error::from_raw_os_error(r));
        }
        Ok(SignalSet { set })
    }

    /// Waits up to `timeout` for one of the blocked signals; `None` on timeout.
    pub fn wait(&self, timeout: Duration) -> io::Result<Option<i32>> {
        let ts = libc::timespec {
            tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: libc::c_long::from(timeout.subsec_nanos().min(999_999_999) as i32),
        };
        // SAFETY: `self.set` is an initialised sigset_t, `ts` a valid timespec, and the
        // siginfo out-pointer may be null.
        match cvt(unsafe { libc::sigtimedwait(&self.set, std::ptr::null_mut(), &ts) }) {
            Ok(sig) => Ok(Some(sig)),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EINTR)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Points `fd` at /dev/null (`dup2`), letting go of what it was.
pub fn redirect_to_null(fd: std::os::fd::RawFd) -> io::Result<()> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    // SAFETY: dup2 takes two integer fds; `null` stays open for the call.
    cvt(unsafe { libc::dup2(null.as_raw_fd(), fd) }).map(drop)
}

/// `setsid(2)`: a new session with no controlling terminal.
pub fn setsid() -> io::Result<()> {
    // SAFETY: setsid takes no arguments.
    cvt(unsafe { libc::setsid() }).map(drop)
}

/// Makes `cmd`'s child start with no signal blocked and none ignored. The supervisor
/// blocks the signals it waits for, and a blocked mask survives fork and exec, as do
/// signals ignored by whoever started hoist (`nohup`, a test harness): a stage1 that
/// passes its own state on (runc, crun) would hand both to the apps. std empties the
/// mask itself, but its posix_spawn path also leaves glibc's internal signals ignored
/// in the child; a pre_exec hook keeps std on the fork path.
pub fn clean_signals_on_exec(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe calls are allowed: sigemptyset, pthread_sigmask and the raw
    // rt_sigaction are (everything lives on the child's stack, nothing is allocated).
    unsafe {
        cmd.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            let r = libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            if r != 0 {
                return Err(io::Error::from_raw_os_error(r));
            }
            // The raw call, as libc's refuses its own real-time signals; an all-zero
            // kernel sigaction is SIG_DFL. Handlers would go with exec anyway; the
            // kernel refuses SIGKILL and SIGSTOP, which is harmless.
            let dfl = [0u64; 4];
            for sig in 1..=64 {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    dfl.as_ptr(),
                    std::ptr::null_mut::<u64>(),
                    8usize,
                );
            }
            Ok(())
        });
    }
}

/// Drops this process's resident pages of every loaded object's read-only segments
/// (program and library text, read-only data) with MADV_DONTNEED. Such pages are
/// clean and never written (no text relocations; RELRO lies inside writable
/// segments, which are skipped), so the next access refaults them from the page cache
/// unchanged; until then they are not the process's resident memory. A pod's
/// supervisor does this once its pod runs: it idles for the pod's life, and most of
/// the code it touched while setting up (fetch, CNI, overlay) is not needed again.
pub fn release_text_pages() {
    // SAFETY: the callback only reads the program headers dl_iterate_phdr hands it,
    // which stay valid for the duration of each call.
    unsafe {
        libc::dl_iterate_phdr(Some(release_object), std::ptr::null_mut());
    }
}

/// For one loaded object: MADV_DONTNEED on the whole pages inside the file-backed
/// part of each PT_LOAD segment that is not writable.
unsafe extern "C" fn release_object(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    _data: *mut libc::c_void,
) -> libc::c_int {
    const PAGE: usize = 4096;
    // SAFETY: dl_iterate_phdr passes a valid dl_phdr_info for the current object.
    let info = unsafe { &*info };
    if info.dlpi_phdr.is_null() {
        return 0;
    }
    // SAFETY: dlpi_phdr points at dlpi_phnum program headers of a loaded object.
    let phdrs = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) };
    let Ok(base) = usize::try_from(info.dlpi_addr) else {
        return 0;
    };
    for ph in phdrs {
        if ph.p_type != libc::PT_LOAD || ph.p_flags & libc::PF_W != 0 {
            continue;
        }
        let (Ok(vaddr), Ok(filesz)) = (usize::try_from(ph.p_vaddr), usize::try_from(ph.p_filesz))
        else {
            continue;
        };
        let start = (base + vaddr).next_multiple_of(PAGE);
        let end = (base + vaddr + filesz) / PAGE * PAGE;
        if end > start {
            // SAFETY: [start, end) is whole pages of a loaded, non-writable segment
            // mapped privately from its file; discarding them only drops resident
            // copies of unmodified file pages, which fault back with the same bytes.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
            }
        }
    }
    0
}
