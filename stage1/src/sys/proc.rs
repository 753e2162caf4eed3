//! Process syscalls: clone3, namespaces, credentials, prctl, rlimits, exec, signals, wait.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::{cvt, retry, CStrArray};

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Where a `clone3` call returned.
pub enum Forked {
    Parent(libc::pid_t),
    Child,
}

/// `clone3(2)` without CLONE_VM: a fork into the namespaces named by `flags`, with
/// SIGCHLD as the exit signal.
///
/// # Safety
/// The caller must be single-threaded (the child gets one thread; locks held by other
/// threads would never be released in it). stage1 never starts a thread.
pub unsafe fn clone3(flags: u64) -> io::Result<Forked> {
    // SAFETY: the caller's contract.
    unsafe { clone3_into(flags, None) }
}

/// CLONE_INTO_CGROUP (Linux 5.7): the child starts in the cgroup v2 directory given.
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `clone3`, with the child born in the cgroup v2 directory `cgroup` when one is given.
///
/// # Safety
/// As for `clone3`.
pub unsafe fn clone3_into(flags: u64, cgroup: Option<BorrowedFd<'_>>) -> io::Result<Forked> {
    let mut args = CloneArgs {
        flags,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup =
            u64::try_from(fd.as_raw_fd()).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    }
    // SAFETY: `args` is a valid clone_args of the size passed; with no CLONE_VM and no
    // stack the child runs on a copy of our memory like fork(2); the caller guarantees
    // we are single-threaded.
    let ret = cvt(unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    })?;
    Ok(if ret == 0 {
        Forked::Child
    } else {
        Forked::Parent(
            libc::pid_t::try_from(ret).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?,
        )
    })
}

/// `setns(2)`.
pub fn setns(fd: BorrowedFd<'_>, nstype: i32) -> io::Result<()> {
    // SAFETY: a live fd; no memory passed.
    cvt(unsafe { libc::setns(fd.as_raw_fd(), nstype) }).map(drop)
}

/// `unshare(2)`.
pub fn unshare(flags: i32) -> io::Result<()> {
    // SAFETY: no memory passed.
    cvt(unsafe { libc::unshare(flags) }).map(drop)
}

/// `sethostname(2)`.
pub fn sethostname(name: &str) -> io::Result<()> {
    // SAFETY: pointer and length describe `name`'s bytes.
    cvt(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }).map(drop)
}

/// `setdomainname(2)`.
pub fn setdomainname(name: &str) -> io::Result<()> {
    // SAFETY: pointer and length describe `name`'s bytes.
    cvt(unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) }).map(drop)
}

/// `prctl(2)` with integer arguments only.
pub fn prctl(option: i32, arg2: u64) -> io::Result<i32> {
    // SAFETY: the options used here take integers, no pointers.
    cvt(unsafe { libc::prctl(option, arg2, 0u64, 0u64, 0u64) })
}

/// `setresuid(2)` with all three ids the same (the raw syscall: per-thread, which is
/// the whole process here).
pub fn setresuid(uid: u32) -> io::Result<()> {
    // SAFETY: no memory passed.
    cvt(unsafe { libc::setresuid(uid, uid, uid) }).map(drop)
}

/// `setresgid(2)` with all three ids the same.
pub fn setresgid(gid: u32) -> io::Result<()> {
    // SAFETY: no memory passed.
    cvt(unsafe { libc::setresgid(gid, gid, gid) }).map(drop)
}

/// `setgroups(2)`.
pub fn setgroups(gids: &[u32]) -> io::Result<()> {
    // SAFETY: pointer and length describe `gids`.
    cvt(unsafe { libc::setgroups(gids.len(), gids.as_ptr()) }).map(drop)
}

/// `prlimit(2)` on ourselves.
pub fn setrlimit(resource: u32, soft: u64, hard: u64) -> io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `lim` is a valid rlimit; NULL old-limit pointer is allowed.
    cvt(unsafe { libc::prlimit(0, resource, &lim, std::ptr::null_mut()) }).map(drop)
}

/// `setsid(2)`.
pub fn setsid() -> io::Result<()> {
    // SAFETY: no memory passed.
    cvt(unsafe { libc::setsid() }).map(drop)
}

/// `execve(2)`: returns only on failure.
pub fn execve(path: &std::ffi::CStr, argv: &CStrArray<'_>, envp: &CStrArray<'_>) -> io::Error {
    // SAFETY: path is a valid C string; argv and envp are NULL-terminated arrays of valid
    // C strings that outlive the call.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    io::Error::last_os_error()
}

/// `kill(2)`.
pub fn kill(pid: libc::pid_t, sig: i32) -> io::Result<()> {
    // SAFETY: no memory passed.
    cvt(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// How a waited-for process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    /// The shell convention runc follows: the code, or 128 + the signal.
    pub fn status(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => 128 + s,
        }
    }
}

/// `waitpid(2)`; with `nohang`, `Ok(None)` while the child still runs.
pub fn waitpid(pid: libc::pid_t, nohang: bool) -> io::Result<Option<(libc::pid_t, Exit)>> {
    let mut status = 0;
    let flags = if nohang { libc::WNOHANG } else { 0 };
    // SAFETY: `status` is writable.
    let r = retry(|| unsafe { libc::waitpid(pid, &mut status, flags) })?;
    if r == 0 {
        return Ok(None);
    }
    let exit = if libc::WIFSIGNALED(status) {
        Exit::Signal(libc::WTERMSIG(status))
    } else {
        Exit::Code(libc::WEXITSTATUS(status))
    };
    Ok(Some((r, exit)))
}

/// `pidfd_open(2)`.
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: no memory passed.
    let fd = cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    let fd = RawFd::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: a new fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `pidfd_send_signal(2)`: signals exactly the process the pidfd names (no pid reuse).
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: i32) -> io::Result<()> {
    // SAFETY: NULL siginfo is allowed; the fd is live.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<u8>(),
            0,
        )
    })
    .map(drop)
}

/// Blocks `signals` for this process and returns a signalfd that reads them, plus the
/// mask that was in force before (to restore in children before exec).
pub fn signalfd(signals: &[i32]) -> io::Result<(OwnedFd, libc::sigset_t)> {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    let mut old = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set; sigaddset and sigprocmask take valid
    // pointers to initialised sets.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        for &s in signals {
            libc::sigaddset(set.as_mut_ptr(), s);
        }
        cvt(libc::sigprocmask(
            libc::SIG_BLOCK,
            set.as_ptr(),
            old.as_mut_ptr(),
        ))?;
    }
    // SAFETY: `set` is initialised above.
    let fd = cvt(unsafe { libc::signalfd(-1, set.as_ptr(), libc::SFD_CLOEXEC) })?;
    // SAFETY: a new fd owned by nobody else; `old` was filled by sigprocmask.
    Ok((unsafe { OwnedFd::from_raw_fd(fd) }, unsafe {
        old.assume_init()
    }))
}

/// Reads one signal number from a signalfd.
pub fn read_signal(fd: BorrowedFd<'_>) -> io::Result<i32> {
    let mut info = std::mem::MaybeUninit::<libc::signalfd_siginfo>::uninit();
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    // SAFETY: `info` is writable memory of `size` bytes.
    let n = retry(|| unsafe { libc::read(fd.as_raw_fd(), info.as_mut_ptr().cast(), size) })?;
    if usize::try_from(n).ok() != Some(size) {
        return Err(io::Error::from_raw_os_error(libc::EIO));
    }
    // SAFETY: the kernel filled the whole struct.
    let info = unsafe { info.assume_init() };
    i32::try_from(info.ssi_signo).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Restores a signal mask (undoing `signalfd`'s blocking in a child).
pub fn set_sigmask(mask: &libc::sigset_t) -> io::Result<()> {
    // SAFETY: `mask` is an initialised sigset.
    cvt(unsafe { libc::sigprocmask(libc::SIG_SETMASK, mask, std::ptr::null_mut()) }).map(drop)
}

/// Resets every catchable signal to its default disposition and unblocks them all
/// (before exec of the container process, so that it inherits neither an ignored
/// SIGPIPE nor the blocked SIGTERM of a caller that waits for signals, as a pod
/// supervisor or a shim does).
///
/// Handlers are reset by execve itself; only ignored signals stay ignored, so where
/// we know which those are ([`ignored_signals`]) only they are reset.
pub fn reset_signal_dispositions() {
    // SAFETY: the set is initialised by sigemptyset before sigprocmask reads it.
    unsafe {
        let mut empty = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigemptyset(empty.as_mut_ptr());
        libc::sigprocmask(libc::SIG_SETMASK, empty.as_ptr(), std::ptr::null_mut());
    }
    let ignored = ignored_signals();
    for sig in 1..=64u32 {
        let listed = ignored.is_none_or(|m| m & (1 << (sig - 1)) != 0);
        if sig == libc::SIGKILL as u32 || sig == libc::SIGSTOP as u32 || !listed {
            continue;
        }
        // The raw call: libc's wrappers refuse the two real-time signals it keeps for
        // itself, which a caller may still have ignored. A kernel sigaction whose
        // handler, flags, restorer and mask are all zero is SIG_DFL.
        let dfl = [0u64; 4];
        // SAFETY: a valid kernel sigaction (all zero: SIG_DFL) and no old one asked
        // for; failures (a signal number the kernel rejects) are harmless.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                dfl.as_ptr(),
                std::ptr::null_mut::<u64>(),
                8usize,
            )
        };
    }
}

/// The signals this process ignores (`SigIgn` in /proc/self/status, bit N-1 for signal
/// N), read once: call it before forking, and the child knows without /proc (the
/// init's root no longer shows ours). `None` where it cannot be read.
pub fn ignored_signals() -> Option<u64> {
    static IGNORED: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *IGNORED.get_or_init(|| {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let hex = status.lines().find_map(|l| l.strip_prefix("SigIgn:"))?;
        u64::from_str_radix(hex.trim(), 16).ok()
    })
}

/// `ioctl(fd, TIOCSCTTY, 0)`: make the terminal our controlling terminal.
pub fn set_controlling_tty(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) }).map(drop)
}

/// Unlocks a pty master and opens its peer (`TIOCGPTPEER`: no path lookup at all).
pub fn open_pty_peer(master: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let mut unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int from a valid pointer.
    cvt(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &mut unlock) })?;
    // SAFETY: TIOCGPTPEER takes open flags as an integer.
    let fd = cvt(unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: a new fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `ioctl(fd, TIOCSWINSZ)`.
pub fn set_winsize(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from a valid pointer.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) }).map(drop)
}

/// What of std's process start-up the runtime needs (main.rs skips the rest): fds 0, 1
/// and 2 open (on /dev/null if they were closed, so that no file we open later takes
/// their place and gets our messages), SIGPIPE ignored (a write to a closed pipe or
/// socket is an error we report, not our end; the container's process gets the default
/// back, see `reset_signal_dispositions`).
pub fn prepare_process() {
    for fd in 0..3 {
        // SAFETY: F_GETFD only reads the fd's flags.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            // SAFETY: a valid C string; the lowest free fd, `fd`, is what open returns.
            unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        }
    }
    // SAFETY: SIG_IGN is a valid disposition for SIGPIPE.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// `_exit(2)`: leaves the child of a clone without running the parent's destructors.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and is always safe to call.
    unsafe { libc::_exit(code) }
}

/// Our parent's pid.
pub fn getppid() -> u32 {
    // SAFETY: getppid cannot fail.
    u32::try_from(unsafe { libc::getppid() }).unwrap_or(0)
}

/// Sleeps until a signal ends the process.
pub fn pause_forever() -> ! {
    loop {
        // SAFETY: pause takes nothing and only returns after a handled signal.
        unsafe { libc::pause() };
    }
}

/// Our pid.
pub fn getpid() -> libc::pid_t {
    // SAFETY: getpid cannot fail.
    unsafe { libc::getpid() }
}

/// `prctl(2)` with two integer arguments.
pub fn prctl2(option: i32, arg2: u64, arg3: u64) -> io::Result<i32> {
    // SAFETY: the options used with this take integers, no pointers.
    cvt(unsafe { libc::prctl(option, arg2, arg3, 0u64, 0u64) })
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// `capset(2)` of the effective, permitted and inheritable sets in one call (version 3,
/// 64 capability bits).
pub fn capset(effective: u64, permitted: u64, inheritable: u64) -> io::Result<()> {
    const VERSION_3: u32 = 0x2008_0522;
    let lo = |v: u64| (v & 0xffff_ffff) as u32;
    let hi = |v: u64| (v >> 32) as u32;
    let mut hdr = CapHeader {
        version: VERSION_3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: lo(effective),
            permitted: lo(permitted),
            inheritable: lo(inheritable),
        },
        CapData {
            effective: hi(effective),
            permitted: hi(permitted),
            inheritable: hi(inheritable),
        },
    ];
    // SAFETY: header and a two-element data array, as version 3 requires, alive for the call.
    cvt(unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) })
        .map(drop)
}

/// `access(path, X_OK)` against the real ids.
pub fn is_executable(path: &std::ffi::CStr) -> bool {
    // SAFETY: valid C string.
    unsafe { libc::access(path.as_ptr(), libc::X_OK) == 0 }
}

/// `getcwd(3)`.
pub fn getcwd() -> io::Result<std::path::PathBuf> {
    std::env::current_dir()
}

/// Puts a terminal in raw mode; returns the settings to restore.
pub fn tty_make_raw(fd: BorrowedFd<'_>) -> io::Result<libc::termios> {
    let mut t = std::mem::MaybeUninit::<libc::termios>::uninit();
    // SAFETY: `t` is writable memory for a termios.
    cvt(unsafe { libc::tcgetattr(fd.as_raw_fd(), t.as_mut_ptr()) })?;
    // SAFETY: tcgetattr filled it.
    let old = unsafe { t.assume_init() };
    let mut raw = old;
    // SAFETY: cfmakeraw edits a valid termios in place.
    unsafe { libc::cfmakeraw(&mut raw) };
    // SAFETY: a valid termios pointer.
    cvt(unsafe { libc::tcsetattr(fd.as_raw_fd(), libc::TCSANOW, &raw) })?;
    Ok(old)
}

/// Restores terminal settings saved by `tty_make_raw`.
pub fn tty_restore(fd: BorrowedFd<'_>, t: &libc::termios) {
    // SAFETY: a valid termios pointer; failure leaves the terminal as it is.
    unsafe { libc::tcsetattr(fd.as_raw_fd(), libc::TCSANOW, t) };
}

/// `ioctl(TIOCGWINSZ)`: (rows, cols).
pub fn get_winsize(fd: BorrowedFd<'_>) -> io::Result<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize to a valid pointer.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) })?;
    Ok((ws.ws_row, ws.ws_col))
}

/// `isatty(3)`.
pub fn isatty(fd: BorrowedFd<'_>) -> bool {
    // SAFETY: isatty only inspects the fd.
    unsafe { libc::isatty(fd.as_raw_fd()) == 1 }
}

/// Reads into `buf`; 0 at end of file.
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is writable for its length.
    let n = retry(|| unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })?;
    usize::try_from(n).map_err(|_| io::Error::from_raw_os_error(libc::EIO))
}

/// `keyctl(KEYCTL_JOIN_SESSION_KEYRING, name)`: a new session keyring, so containers
/// do not share the host's (runc does this unless --no-new-keyring).
pub fn join_session_keyring(name: &std::ffi::CStr) -> io::Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: a valid C string for the name.
    cvt(unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) })
        .map(drop)
}

/// Reads what is there without blocking (`Ok(0)` when nothing is).
pub fn read_nonblocking(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    if super::poll_one(fd, libc::POLLIN, 0)? & libc::POLLIN == 0 {
        return Ok(0);
    }
    read(fd, buf)
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)`; with
/// SECCOMP_FILTER_FLAG_NEW_LISTENER the kernel returns the notify fd.
pub fn seccomp_set_filter(
    flags: u32,
    prog: &[crate::seccomp::bpf::SockFilter],
) -> io::Result<Option<OwnedFd>> {
    #[repr(C)]
    struct SockFprog {
        len: u16,
        filter: *const crate::seccomp::bpf::SockFilter,
    }
    const SECCOMP_SET_MODE_FILTER: u32 = 1;
    const NEW_LISTENER: u32 = 8;
    let fprog = SockFprog {
        len: u16::try_from(prog.len()).map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?,
        filter: prog.as_ptr(),
    };
    // SAFETY: `fprog` points at `prog`, a live array of sock_filter (same layout, repr(C))
    // of the length given; the kernel copies it during the call.
    let r = cvt(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags,
            &fprog as *const SockFprog,
        )
    })?;
    if flags & NEW_LISTENER == 0 {
        return Ok(None);
    }
    let fd = RawFd::try_from(r).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel returned a new notify fd that nobody else owns.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}
