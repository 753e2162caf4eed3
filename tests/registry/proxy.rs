//! A TCP proxy on 127.0.0.1 in front of a registry that passes at most `limit` bytes of
//! each connection's responses and then closes it: a registry that stops mid-blob.
//! Stopped (and its threads joined) on drop.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub struct CutProxy {
    pub port: u16,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl CutProxy {
    pub fn start(upstream: u16, limit: u64) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        listener.set_nonblocking(true).expect("nonblocking accept");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let accept = std::thread::spawn(move || {
            let mut conns = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => conns.push(std::thread::spawn(move || {
                        serve(client, upstream, limit);
                    })),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            for c in conns {
                let _ = c.join();
            }
        });
        CutProxy {
            port,
            stop,
            accept: Some(accept),
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

fn serve(client: TcpStream, upstream: u16, limit: u64) {
    let _ = client.set_nonblocking(false);
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    let timeout = Some(Duration::from_secs(10));
    for s in [&client, &server] {
        let _ = s.set_read_timeout(timeout);
    }
    let (Ok(mut c_in), Ok(mut s_out)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    // Requests pass as they come.
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c_in, &mut s_out);
        let _ = s_out.shutdown(Shutdown::Write);
    });
    // Responses pass until the limit; then both ends are closed.
    let (mut s_in, mut c_out) = (server, client);
    let mut left = limit;
    let mut buf = vec![0u8; 16 << 10];
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        match s_in.read(&mut buf[..want]) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if c_out.write_all(&buf[..n]).is_err() {
                    break;
                }
                left -= n as u64;
            }
        }
    }
    let _ = c_out.shutdown(Shutdown::Both);
    let _ = s_in.shutdown(Shutdown::Both);
    let _ = up.join();
}
