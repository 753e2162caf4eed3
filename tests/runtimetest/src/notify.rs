//! `runtimetest notify LINE…`: sends the lines as one sd_notify datagram to
//! `$NOTIFY_SOCKET` (busybox has no systemd-notify), for the NOTIFY_SOCKET passthrough
//! tests (tests/notify.rs). `@name` is an abstract socket, as in sd_notify(3).

use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::process::ExitCode;

pub fn main(lines: &[String]) -> ExitCode {
    match send(lines) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("runtimetest notify: {e}");
            ExitCode::FAILURE
        }
    }
}

fn send(lines: &[String]) -> Result<(), String> {
    let target = std::env::var_os("NOTIFY_SOCKET").ok_or("NOTIFY_SOCKET is not set")?;
    let addr = match target.as_bytes().strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name),
        None => SocketAddr::from_pathname(&target),
    }
    .map_err(|e| format!("address {}: {e}", target.to_string_lossy()))?;
    let sock = UnixDatagram::unbound().map_err(|e| format!("socket: {e}"))?;
    let msg = lines.join("\n");
    sock.send_to_addr(msg.as_bytes(), &addr)
        .map_err(|e| format!("send to {}: {e}", target.to_string_lossy()))?;
    Ok(())
}
