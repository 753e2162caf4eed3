//! The pod commands: `run`, `prepare`, `run-prepared`, `unit` and the hidden
//! `supervise` (`run`), `list`, `status`, `cat-manifest`, `logs` (`inspect`), and
//! `enter`, `stop`, `rm`, `gc` (`control`).

pub mod control;
pub mod inspect;
pub mod run;

use std::time::Duration;

use anyhow::{bail, Result};

/// `30s`, `10m`, `1h`, `2d`, or bare seconds.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: u64 = match digits.parse() {
        Ok(n) => n,
        Err(_) => bail!("bad duration `{s}` (e.g. 30s, 10m, 1h)"),
    };
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => bail!("bad duration `{s}` (e.g. 30s, 10m, 1h)"),
    };
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("10m").unwrap().as_secs(), 600);
        assert_eq!(parse_duration("5").unwrap().as_secs(), 5);
        assert!(parse_duration("x").is_err() && parse_duration("1y").is_err());
    }
}
