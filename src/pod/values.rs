//! The values of `hoist run`'s flags that have a grammar of their own: host ports
//! (`[IP:]HOSTPORT:PODPORT[/tcp|udp]`), volumes (`SRC:PATH[:ro]`) and sizes (`64m`).

use std::net::IpAddr;

/// `--port [IP:]HOSTPORT:PODPORT[/tcp|udp]`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Port {
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub pod_port: u16,
    pub protocol: String,
}

/// `--volume SOURCE:PODPATH[:ro]`: a host path (absolute) or a named volume that lives
/// in the pod directory and is shared by the pod's apps.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    pub source: String,
    pub target: String,
    pub readonly: bool,
}

impl Volume {
    /// A named volume (no `/` in its source).
    pub fn is_named(&self) -> bool {
        !self.source.starts_with('/')
    }
}

/// `[IP:]HOSTPORT:PODPORT[/tcp|udp]`.
pub fn parse_port(v: &str) -> Result<Port, String> {
    let (rest, protocol) = match v.rsplit_once('/') {
        Some((r, p)) if p == "tcp" || p == "udp" => (r, p.to_owned()),
        Some(_) => return Err("the protocol is tcp or udp".into()),
        None => (v, "tcp".to_owned()),
    };
    let port = |s: &str| -> Result<u16, String> {
        match s.parse::<u16>() {
            Ok(p) if p > 0 => Ok(p),
            _ => Err(format!("`{s}` is not a port number")),
        }
    };
    let (host_ip, hp, pp) = match rest.rsplitn(3, ':').collect::<Vec<_>>().as_slice() {
        [pp, hp] => (None, *hp, *pp),
        [pp, hp, ip] => {
            let ip = ip.trim_start_matches('[').trim_end_matches(']');
            (
                Some(
                    ip.parse::<IpAddr>()
                        .map_err(|_| format!("`{ip}` is not an IP address"))?,
                ),
                *hp,
                *pp,
            )
        }
        _ => return Err("want [IP:]HOSTPORT:PODPORT[/tcp|udp]".into()),
    };
    Ok(Port {
        host_ip,
        host_port: port(hp)?,
        pod_port: port(pp)?,
        protocol,
    })
}

/// `SRC:PATH[:ro|:rw]`.
pub fn parse_volume(v: &str) -> Result<Volume, String> {
    let parts: Vec<&str> = v.split(':').collect();
    let (source, target, readonly) = match parts.as_slice() {
        [s, t] => (*s, *t, false),
        [s, t, "ro"] => (*s, *t, true),
        [s, t, "rw"] => (*s, *t, false),
        _ => return Err("want SOURCE:PODPATH[:ro]".into()),
    };
    if !target.starts_with('/') || target.split('/').any(|c| c == "..") {
        return Err("the pod path must be absolute, without `..`".into());
    }
    if source.is_empty() {
        return Err("the source is empty".into());
    }
    if !source.starts_with('/')
        && !source
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(
            "a named volume is letters, digits, `-`, `_` and `.`; a host path starts with /".into(),
        );
    }
    Ok(Volume {
        source: source.into(),
        target: target.into(),
        readonly,
    })
}

/// `N[k|m|g]` bytes (binary units, as Docker's `--memory`).
pub fn parse_bytes(v: &str) -> Result<u64, String> {
    let lower = v.to_ascii_lowercase();
    let lower = lower.trim_end_matches('b');
    let (digits, shift) = match lower.chars().last() {
        Some('k') => (&lower[..lower.len() - 1], 10),
        Some('m') => (&lower[..lower.len() - 1], 20),
        Some('g') => (&lower[..lower.len() - 1], 30),
        _ => (lower, 0),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| "want a size like 64m".to_owned())?;
    n.checked_shl(shift)
        .filter(|b| *b >> shift == n && *b >= 4 << 20)
        .ok_or_else(|| "want at least 4m".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        let q = parse_port("127.0.0.1:8080:80").unwrap();
        assert_eq!(q.host_ip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(
            (q.host_port, q.pod_port, q.protocol.as_str()),
            (8080, 80, "tcp")
        );
        let q = parse_port("53:53/udp").unwrap();
        assert_eq!((q.host_ip, q.protocol.as_str()), (None, "udp"));
        assert!(parse_port("80").is_err());
        assert!(parse_port("x:1:2").is_err());
        assert!(parse_port("1:2/sctp").is_err());
    }

    #[test]
    fn volumes_and_sizes() {
        let v = parse_volume("/srv:/data:ro").unwrap();
        assert!(v.readonly && !v.is_named());
        assert!(parse_volume("cache:/cache").unwrap().is_named());
        assert!(parse_volume("/a:/b/../c").is_err());
        assert_eq!(parse_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("1G").unwrap(), 1 << 30);
        assert!(parse_bytes("x").is_err());
    }
}
