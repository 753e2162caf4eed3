//! The receiving end of fd passing, as a shim or a seccomp agent is: accept on a unix
//! socket within a time limit, then read one message and the fd that came with it
//! (SCM_RIGHTS) and the rest of the stream.
#![allow(dead_code)] // shared by tests/seccomp.rs and tests/hardening.rs

use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

/// Accepts one connection within `limit`; None if nobody came (or `give_up` said to
/// stop waiting, e.g. because the runtime already exited).
pub fn accept(
    listener: &UnixListener,
    limit: Duration,
    mut give_up: impl FnMut() -> bool,
) -> Option<UnixStream> {
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let deadline = Instant::now() + limit;
    // One more try after `give_up` turns true: the peer may have connected and gone
    // (a connection waits in the backlog) since the last try.
    let mut last = false;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).expect("blocking stream");
                return Some(s);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("accept: {e}"),
        }
        if last {
            return None;
        }
        last = Instant::now() > deadline || give_up();
        if !last {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Reads one message and the first fd that came with it as SCM_RIGHTS (every fd
/// received is owned, so none leaks), then more of the stream until `complete` says
/// the message is whole or the peer closes.
pub fn recv_with_fd(
    sock: &UnixStream,
    complete: impl Fn(&[u8]) -> bool,
) -> (Vec<u8>, Option<OwnedFd>) {
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut data = vec![0u8; 64 * 1024];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // Room for a cmsghdr carrying a few fds, 8-byte aligned as cmsghdr needs.
    let mut control = [0u64; 16];
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: msg points at `iov` and `control`, both live and writable for the call;
    // the socket fd is borrowed from `sock`, which outlives it.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    assert!(n >= 0, "recvmsg: {}", io::Error::last_os_error());
    let mut fds = Vec::new();
    // SAFETY: `msg` was filled in by recvmsg just above and `control` is still live.
    let mut hdr = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !hdr.is_null() {
        // SAFETY: hdr is non-null and points into `control`, as recvmsg laid it out.
        let (level, kind, len) = unsafe { ((*hdr).cmsg_level, (*hdr).cmsg_type, (*hdr).cmsg_len) };
        if (level, kind) == (libc::SOL_SOCKET, libc::SCM_RIGHTS) {
            // SAFETY: CMSG_LEN is a pure size computation.
            let head = unsafe { libc::CMSG_LEN(0) } as usize;
            let count = (len - head) / std::mem::size_of::<libc::c_int>();
            for i in 0..count {
                // SAFETY: an SCM_RIGHTS message of `len` bytes carries `count` ints
                // after its header, inside `control`; read_unaligned does not assume
                // alignment.
                let fd = unsafe {
                    std::ptr::read_unaligned(libc::CMSG_DATA(hdr).cast::<libc::c_int>().add(i))
                };
                // SAFETY: the kernel just installed `fd` in this process for us alone.
                fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
        // SAFETY: `msg` and `hdr` are the header and one of its control messages.
        hdr = unsafe { libc::CMSG_NXTHDR(&msg, hdr) };
    }
    let n = usize::try_from(n).expect("recvmsg length");
    data.truncate(n);
    // The rest of the payload, if the stream split it.
    let mut buf = [0u8; 4096];
    while !complete(&data) {
        match (&*sock).read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
    (data, fds.into_iter().next())
}
