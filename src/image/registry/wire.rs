//! Small pieces of the HTTP side of the registry protocol: Location headers resolved
//! against the URL that sent them, query values percent-encoded, the error codes of a
//! distribution error body, TLS handshake failures told from other connection errors.

/// Whether a connection failed in the TLS handshake (rustls reports through io errors
/// of kind InvalidData).
pub(super) fn is_tls_error(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => true,
        ureq::Error::Io(io) => io.kind() == std::io::ErrorKind::InvalidData,
        _ => false,
    }
}

/// Whether `host` (`HOST[:PORT]`, `[V6]:PORT`) names this machine.
pub(super) fn is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The `errors[].code` and `.message` of a distribution error body.
pub(super) fn error_codes(body: &[u8]) -> Vec<(String, String)> {
    #[derive(serde::Deserialize)]
    struct Errors {
        #[serde(default)]
        errors: Vec<ErrorEntry>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorEntry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    serde_json::from_slice::<Errors>(body)
        .map(|e| e.errors.into_iter().map(|x| (x.code, x.message)).collect())
        .unwrap_or_default()
}

/// Resolves a Location header against the URL that answered with it.
pub(super) fn join_url(base: &str, location: &str) -> Option<String> {
    if location.starts_with("https://") || location.starts_with("http://") {
        return Some(location.to_owned());
    }
    let (scheme, rest) = base.split_once("://")?;
    let authority = rest.split('/').next()?;
    if let Some(l) = location.strip_prefix("//") {
        return (!l.is_empty()).then(|| format!("{scheme}://{l}"));
    }
    if location.starts_with('/') {
        return Some(format!("{scheme}://{authority}{location}"));
    }
    if location.is_empty() {
        return None;
    }
    let path = rest[authority.len()..]
        .split(['?', '#'])
        .next()
        .unwrap_or_default();
    let dir = path.rfind('/').map_or("/", |i| &path[..=i]);
    Some(format!("{scheme}://{authority}{dir}{location}"))
}

/// Percent-encodes a query value.
pub(super) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_locations() {
        let b = "https://reg:5000/v2/a/blobs/sha256:x?y=1";
        assert_eq!(
            join_url(b, "https://s3.example/obj?sig=1").as_deref(),
            Some("https://s3.example/obj?sig=1")
        );
        assert_eq!(
            join_url(b, "/other/path").as_deref(),
            Some("https://reg:5000/other/path")
        );
        assert_eq!(
            join_url(b, "//cdn.example/x").as_deref(),
            Some("https://cdn.example/x")
        );
        assert_eq!(
            join_url(b, "data").as_deref(),
            Some("https://reg:5000/v2/a/blobs/data")
        );
        assert_eq!(join_url("http://h", "x").as_deref(), Some("http://h/x"));
        assert_eq!(join_url(b, ""), None);
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1:5000",
            "127.1.2.3",
            "localhost:80",
            "[::1]:5000",
            "LOCALHOST",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "10.0.0.1:5000",
            "quay.io",
            "[fe80::1]:5000",
            "localhost.example",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn encodes_queries() {
        assert_eq!(
            encode("repository:library/busybox:pull"),
            "repository:library/busybox:pull"
        );
        assert_eq!(encode("a b&c=d"), "a%20b%26c%3Dd");
    }

    #[test]
    fn reads_error_codes() {
        let b =
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#;
        assert_eq!(
            error_codes(b),
            vec![("MANIFEST_UNKNOWN".to_owned(), "manifest unknown".to_owned())]
        );
        assert!(error_codes(b"<html>").is_empty());
    }
}
