//! Unix sockets: the create/init sync pair, and fd passing (SCM_RIGHTS) for the console.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::{cvt, retry};

/// A connected `SOCK_SEQPACKET` pair: message boundaries are kept, and a closed peer
/// reads as end of file.
pub fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two fds.
    cvt(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: two new fds owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Sends one message.
pub fn send(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<()> {
    // SAFETY: `buf` is readable for its length.
    retry(|| unsafe {
        libc::send(
            fd.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_NOSIGNAL,
        )
    })
    .map(drop)
}

/// Receives one message into `buf`; returns its length (0 when the peer closed).
pub fn recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is writable for its length.
    let n = retry(|| unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) })?;
    usize::try_from(n).map_err(|_| io::Error::from_raw_os_error(libc::EIO))
}

/// Sends `payload` with one fd attached as SCM_RIGHTS, as runc sends a pty master
/// over `--console-socket`.
pub fn send_fd(sock: BorrowedFd<'_>, payload: &[u8], fd: BorrowedFd<'_>) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    let fd_len = std::mem::size_of_val(&raw);
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(u32::try_from(fd_len).unwrap_or(4)) } as usize;
    let mut cbuf = vec![0u8; space];
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr().cast_mut().cast(),
        iov_len: payload.len(),
    };
    // SAFETY: msghdr is plain data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space;
    // SAFETY: msg_control points at `space` bytes, enough for one header carrying one fd
    // (CMSG_SPACE above); CMSG_FIRSTHDR is therefore non-null and in bounds.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(u32::try_from(fd_len).unwrap_or(4)) as usize;
        std::ptr::copy_nonoverlapping(
            (&raw as *const i32).cast::<u8>(),
            libc::CMSG_DATA(c),
            fd_len,
        );
    }
    // SAFETY: `msg` and everything it points to are alive for the call.
    retry(|| unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) }).map(drop)
}

/// Receives one fd sent with `send_fd` (the payload is discarded).
pub fn recv_fd(sock: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let mut data = [0u8; 256];
    let fd_len = std::mem::size_of::<i32>();
    // SAFETY: pure size computation.
    let space = unsafe { libc::CMSG_SPACE(u32::try_from(fd_len).unwrap_or(4)) } as usize;
    let mut cbuf = vec![0u8; space];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: zeroed msghdr is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space;
    // SAFETY: `msg` points at live buffers of the sizes given.
    retry(|| unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) })?;
    // SAFETY: the kernel set msg_controllen; CMSG_FIRSTHDR checks it before returning a
    // header, and a SCM_RIGHTS header of our size carries one fd.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        if c.is_null() || (*c).cmsg_type != libc::SCM_RIGHTS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "no fd in message",
            ));
        }
        let mut fd: i32 = -1;
        std::ptr::copy_nonoverlapping(
            libc::CMSG_DATA(c),
            (&mut fd as *mut i32).cast::<u8>(),
            fd_len,
        );
        Ok(OwnedFd::from_raw_fd(fd))
    }
}
