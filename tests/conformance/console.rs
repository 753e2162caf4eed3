//! The receiving end of `--console-socket`: a unix socket the runtime connects to and
//! sends the pty master of a `process.terminal` container over, as SCM_RIGHTS (what
//! containerd's shim and podman's conmon do).

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::harness::{fail, Stop};

/// Receives one file descriptor (and the data sent with it) from `sock`.
fn recv_fd(sock: &UnixStream) -> Result<OwnedFd, Stop> {
    recv_fd_data(sock).map(|(_, fd)| fd)
}

/// Receives one message with a file descriptor from `sock`: its data and the fd.
pub fn recv_fd_data(sock: &UnixStream) -> Result<(Vec<u8>, OwnedFd), Stop> {
    let mut data = vec![0u8; 1 << 16];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let fd_len = u32::try_from(std::mem::size_of::<RawFd>()).unwrap_or(4);
    // SAFETY: CMSG_SPACE is arithmetic on its argument.
    let space = unsafe { libc::CMSG_SPACE(fd_len) } as usize;
    // u64 elements keep the control buffer aligned for cmsghdr.
    let mut control = vec![0u64; space.div_ceil(8)];
    // SAFETY: msghdr is plain old data; all zeroes is a valid (empty) value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space;
    // SAFETY: `msg` points at `iov` (over `data`) and `control`, all alive and
    // writable for the call, with their true lengths.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    let Ok(n) = usize::try_from(n) else {
        return fail(format!("recvmsg: {}", std::io::Error::last_os_error()));
    };
    data.truncate(n);
    // SAFETY: `msg` was filled by recvmsg; CMSG_FIRSTHDR only reads its control fields.
    let cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    if cmsg.is_null() {
        return fail("the runtime sent no file descriptor over the socket");
    }
    // SAFETY: `cmsg` is non-null and points into `control`, which is alive.
    let (level, ty) = unsafe { ((*cmsg).cmsg_level, (*cmsg).cmsg_type) };
    if level != libc::SOL_SOCKET || ty != libc::SCM_RIGHTS {
        return fail(format!(
            "the socket message is not SCM_RIGHTS ({level}, {ty})"
        ));
    }
    // SAFETY: an SCM_RIGHTS message carries at least one fd in its data, which may be
    // unaligned, hence read_unaligned; the fd is new in this process and owned here.
    let fd = unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>()) };
    // SAFETY: the kernel just installed `fd` in this process for us alone.
    Ok((data, unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// A console socket: accepts the runtime's connection and reads the terminal's
/// output into a buffer until the pty closes.
pub struct Console {
    output: Arc<Mutex<Vec<u8>>>,
    done: std::sync::mpsc::Receiver<Result<(), Stop>>,
}

impl Console {
    /// Listens at `path`; the accept and the reads happen on a thread.
    pub fn listen(path: &Path) -> Result<Self, Stop> {
        let listener = UnixListener::bind(path)
            .map_err(|e| Stop::Fail(format!("bind {}: {e}", path.display())))?;
        let output = Arc::new(Mutex::new(Vec::new()));
        let (tx, done) = std::sync::mpsc::channel();
        let out = Arc::clone(&output);
        std::thread::spawn(move || {
            let r = (|| {
                let (sock, _) = listener
                    .accept()
                    .map_err(|e| Stop::Fail(format!("accept: {e}")))?;
                let mut master = File::from(recv_fd(&sock)?);
                let mut buf = [0u8; 4096];
                // Reading the master fails with EIO once every slave fd is closed.
                while let Ok(n) = master.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut o) = out.lock() {
                        o.extend_from_slice(&buf[..n]);
                    }
                }
                Ok(())
            })();
            let _ = tx.send(r);
        });
        Ok(Console { output, done })
    }

    /// The terminal's output once it closed (or what came within `timeout`), with the
    /// tty's CR LF turned into LF.
    pub fn wait_output(&self, timeout: Duration) -> Result<String, Stop> {
        match self.done.recv_timeout(timeout) {
            Ok(r) => r?,
            Err(_) => {
                let got = self.output.lock().map(|o| o.len()).unwrap_or(0);
                if got == 0 {
                    return fail(
                        "no pty master arrived on the console socket, or nothing was written to it",
                    );
                }
            }
        }
        let text = self
            .output
            .lock()
            .map(|o| String::from_utf8_lossy(&o).into_owned())
            .unwrap_or_default();
        Ok(text.replace("\r\n", "\n"))
    }
}
