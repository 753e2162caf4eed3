//! `WWW-Authenticate` challenges (RFC 7235): `Basic realm="…"` and
//! `Bearer realm="…",service="…",scope="…"`, the two a registry sends. Parameter
//! values are tokens or quoted strings with `\` escapes; names are case-insensitive.

use std::collections::BTreeMap;

/// One challenge: its scheme (lowercased) and its parameters (names lowercased).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// Parses a header value into its challenges, in order. Malformed input ends the
/// parse; what came before it is kept.
pub fn parse(header: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let mut p = Parser {
        s: header.as_bytes(),
        i: 0,
    };
    loop {
        p.skip_separators();
        let Some(word) = p.token() else {
            break;
        };
        p.skip_spaces();
        if p.peek() == Some(b'=') {
            // A parameter of the current challenge.
            p.i += 1;
            p.skip_spaces();
            let Some(value) = p.value() else {
                break;
            };
            match out.last_mut() {
                Some(c) => {
                    c.params.insert(word.to_ascii_lowercase(), value);
                }
                None => break,
            }
        } else {
            out.push(Challenge {
                scheme: word.to_ascii_lowercase(),
                params: BTreeMap::new(),
            });
        }
    }
    out
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn skip_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }

    /// An RFC 7230 token.
    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/:".contains(&b))
        {
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    /// A token or a quoted string.
    fn value(&mut self) -> Option<String> {
        if self.peek() != Some(b'"') {
            return self.token();
        }
        self.i += 1;
        let mut v = Vec::new();
        loop {
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Some(String::from_utf8_lossy(&v).into_owned());
                }
                b'\\' => {
                    self.i += 1;
                    v.push(self.peek()?);
                    self.i += 1;
                }
                b => {
                    v.push(b);
                    self.i += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer() {
        let c = parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c[0].param("service"), Some("registry.docker.io"));
        assert_eq!(c[0].param("scope"), Some("repository:library/busybox:pull"));
    }

    #[test]
    fn basic_tokens_escapes_and_several() {
        let c = parse(
            r#"Basic realm="Registry \"Realm\"", Bearer realm=https://x/t, error=insufficient_scope"#,
        );
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].param("realm"), Some(r#"Registry "Realm""#));
        assert_eq!(c[1].scheme, "bearer");
        assert_eq!(c[1].param("realm"), Some("https://x/t"));
        assert_eq!(c[1].param("error"), Some("insufficient_scope"));
    }

    #[test]
    fn malformed_input_stops_without_panic() {
        assert!(parse("").is_empty());
        assert!(parse("realm=\"x\"").is_empty());
        let c = parse("Bearer realm=\"unterminated");
        assert_eq!(c.len(), 1);
        assert!(c[0].params.is_empty());
        for s in ["=", ",,,", "\"", "Bearer ,=,", "Basic \u{e9}"] {
            let _ = parse(s);
        }
    }
}
