//! Host ports: a port another program (or another pod) holds cannot be forwarded, so
//! it is refused before the pod is made, by binding it once.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

use super::NetError;
use crate::pod::args::Port;

/// `IP:PORT/proto` for messages.
pub fn describe(p: &Port) -> String {
    let ip = p.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    format!("{}/{}", SocketAddr::new(ip, p.host_port), p.protocol)
}

/// Fails when a host port of `ports` is in use or given twice.
pub fn check_free(ports: &[Port]) -> Result<(), NetError> {
    for (i, p) in ports.iter().enumerate() {
        let twice = ports[..i]
            .iter()
            .any(|q| q.host_port == p.host_port && q.protocol == p.protocol);
        let ip = p.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let addr = SocketAddr::new(ip, p.host_port);
        let free = !twice
            && match p.protocol.as_str() {
                "udp" => UdpSocket::bind(addr).is_ok(),
                _ => TcpListener::bind(addr).is_ok(),
            };
        if !free {
            return Err(NetError::PortTaken(describe(p)));
        }
    }
    Ok(())
}

/// Whether two port lists share a host port.
pub fn overlap(a: &[Port], b: &[Port]) -> Option<String> {
    a.iter()
        .find(|p| {
            b.iter()
                .any(|q| q.host_port == p.host_port && q.protocol == p.protocol)
        })
        .map(describe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taken_ports() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let p = Port {
            host_ip: Some("127.0.0.1".parse().unwrap()),
            host_port: port,
            pod_port: 80,
            protocol: "tcp".into(),
        };
        let e = check_free(std::slice::from_ref(&p)).unwrap_err();
        assert!(
            e.to_string().contains(&format!("127.0.0.1:{port}/tcp")),
            "{e}"
        );
        drop(l);
        check_free(std::slice::from_ref(&p)).unwrap();
        assert!(check_free(&[p.clone(), p.clone()]).is_err());
        assert!(overlap(std::slice::from_ref(&p), std::slice::from_ref(&p)).is_some());
    }
}
