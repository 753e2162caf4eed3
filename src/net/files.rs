//! The pod's /etc/hosts, /etc/resolv.conf and /etc/hostname, written into `etc/` of
//! the pod directory and bind-mounted into every app.

use std::net::IpAddr;
use std::path::Path;

use super::{io_err, NetError};

/// `/etc/hosts`: loopback names, the pod's own addresses under its hostname, then the
/// `--hosts-entry` lines.
pub fn hosts(hostname: &str, pod_ips: &[IpAddr], extra: &[(IpAddr, String)]) -> String {
    let mut s = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    if pod_ips.is_empty() {
        s.push_str(&format!("127.0.1.1\t{hostname}\n"));
    }
    for ip in pod_ips {
        s.push_str(&format!("{ip}\t{hostname}\n"));
    }
    for (ip, name) in extra {
        s.push_str(&format!("{ip}\t{name}\n"));
    }
    s
}

/// `/etc/resolv.conf`: the `--dns` servers with the host's search line, or the host's
/// file; loopback nameservers are dropped when the pod has its own network namespace
/// (the host's 127.0.0.53 is not reachable from there).
pub fn resolv_conf(host: &str, dns: &[IpAddr], own_netns: bool) -> String {
    let mut out = String::new();
    let mut servers = 0;
    for line in host.lines() {
        let t = line.trim();
        if let Some(ns) = t.strip_prefix("nameserver") {
            let ip: Option<IpAddr> = ns.trim().parse().ok();
            if !dns.is_empty() || (own_netns && ip.is_some_and(|ip| ip.is_loopback())) {
                continue;
            }
            servers += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    for ip in dns {
        out.push_str(&format!("nameserver {ip}\n"));
        servers += 1;
    }
    if servers == 0 && own_netns && !out.is_empty() {
        out.push_str("# hoist: the host's nameservers are on loopback; give --dns\n");
    }
    out
}

/// Writes the three files into `etc_dir`.
pub fn write(
    etc_dir: &Path,
    hostname: &str,
    pod_ips: &[IpAddr],
    extra: &[(IpAddr, String)],
    dns: &[IpAddr],
    own_netns: bool,
) -> Result<(), NetError> {
    std::fs::create_dir_all(etc_dir).map_err(io_err(format!("create `{}`", etc_dir.display())))?;
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    for (name, text) in [
        ("hosts", hosts(hostname, pod_ips, extra)),
        ("resolv.conf", resolv_conf(&host_resolv, dns, own_netns)),
        ("hostname", format!("{hostname}\n")),
    ] {
        let p = etc_dir.join(name);
        std::fs::write(&p, text).map_err(io_err(format!("write `{}`", p.display())))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_file() {
        let h = hosts(
            "web",
            &["10.88.0.2".parse().unwrap()],
            &[("10.0.0.1".parse().unwrap(), "db".into())],
        );
        assert!(h.contains("10.88.0.2\tweb\n") && h.contains("10.0.0.1\tdb\n"));
        assert!(hosts("x", &[], &[]).contains("127.0.1.1\tx"));
    }

    #[test]
    fn resolv() {
        let host = "search lan\nnameserver 127.0.0.53\nnameserver 192.0.2.1\n";
        assert_eq!(
            resolv_conf(host, &[], true),
            "search lan\nnameserver 192.0.2.1\n"
        );
        assert_eq!(resolv_conf(host, &[], false), host);
        let r = resolv_conf(host, &["192.0.2.9".parse().unwrap()], true);
        assert_eq!(r, "search lan\nnameserver 192.0.2.9\n");
    }
}
