//! A seccomp agent's side of SCMP_ACT_NOTIFY: read notifications from the fd the
//! runtime hands to the listener and answer them, with the structs and ioctl numbers of
//! <linux/seccomp.h> written out here (libc has neither).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// `struct seccomp_data`: 64 bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct SeccompData {
    pub nr: i32,
    pub arch: u32,
    pub instruction_pointer: u64,
    pub args: [u64; 6],
}

/// `struct seccomp_notif`: 80 bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Notif {
    pub id: u64,
    pub pid: u32,
    pub flags: u32,
    pub data: SeccompData,
}

/// `struct seccomp_notif_resp`: 24 bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Resp {
    pub id: u64,
    pub val: i64,
    pub error: i32,
    pub flags: u32,
}

// _IOC(dir, type, nr, size) = dir << 30 | size << 16 | type << 8 | nr, with type '!'
// (SECCOMP_IOC_MAGIC) and dir = _IOC_READ | _IOC_WRITE (3) for SECCOMP_IOWR.
const fn iowr(nr: u64, size: usize) -> u64 {
    (3 << 30) | ((size as u64) << 16) | ((b'!' as u64) << 8) | nr
}

/// SECCOMP_IOCTL_NOTIF_RECV = SECCOMP_IOWR(0, struct seccomp_notif) = 0xc0502100.
pub const NOTIF_RECV: u64 = iowr(0, std::mem::size_of::<Notif>());
/// SECCOMP_IOCTL_NOTIF_SEND = SECCOMP_IOWR(1, struct seccomp_notif_resp) = 0xc0182101.
pub const NOTIF_SEND: u64 = iowr(1, std::mem::size_of::<Resp>());

const _: () = assert!(std::mem::size_of::<SeccompData>() == 64);
const _: () = assert!(std::mem::size_of::<Notif>() == 80);
const _: () = assert!(std::mem::size_of::<Resp>() == 24);
const _: () = assert!(NOTIF_RECV == 0xc050_2100);
const _: () = assert!(NOTIF_SEND == 0xc018_2101);

pub const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;

/// What waiting on the notify fd gave.
pub enum Event {
    Notif(Notif),
    Timeout,
    /// Every process under the filter is gone: the fd polls as hung up.
    Gone,
}

/// Waits up to `limit` for a notification.
pub fn recv(fd: &OwnedFd, limit: Duration) -> Event {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Event::Timeout;
        }
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = i32::try_from(left.as_millis().min(100)).unwrap_or(100);
        // SAFETY: one pollfd, live for the call.
        let n = unsafe { libc::poll(&mut p, 1, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            assert_eq!(e.kind(), io::ErrorKind::Interrupted, "poll notify fd: {e}");
            continue;
        }
        if n == 0 {
            continue;
        }
        if p.revents & libc::POLLIN == 0 {
            return Event::Gone;
        }
        // The kernel wants the buffer zeroed.
        let mut n = Notif::default();
        // SAFETY: NOTIF_RECV writes one `struct seccomp_notif` into `n`, which is
        // exactly that struct (size checked above) and live for the call.
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), NOTIF_RECV as _, &mut n as *mut Notif) };
        if r == 0 {
            return Event::Notif(n);
        }
        let e = io::Error::last_os_error();
        // ENOENT: the process was killed between poll and recv.
        assert!(
            matches!(e.raw_os_error(), Some(libc::EINTR | libc::ENOENT)),
            "SECCOMP_IOCTL_NOTIF_RECV: {e}"
        );
    }
}

/// Answers notification `id`: the syscall returns `val`, or fails with `errno` when it
/// is not 0 (without running either way).
pub fn send(fd: &OwnedFd, id: u64, val: i64, errno: i32) -> io::Result<()> {
    let mut resp = Resp {
        id,
        val,
        error: -errno,
        flags: 0,
    };
    // SAFETY: NOTIF_SEND reads one `struct seccomp_notif_resp` from `resp`, which is
    // exactly that struct (size checked above) and live for the call.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), NOTIF_SEND as _, &mut resp as *mut Resp) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
