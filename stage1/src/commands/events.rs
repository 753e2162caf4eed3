//! `events`: runc's JSON events: one stats event with --stats, else a stream of stats
//! every --interval and an `oom` event whenever the OOM killer strikes, until the
//! container stops.

use std::time::Duration;

use anyhow::{anyhow, Result};
use serde_json::json;

use super::Ctx;
use crate::cgroups::stats;
use crate::cli::EventsArgs;
use crate::container::{Container, Status};

/// Go-style durations as runc takes them: `5s`, `100ms`, `1m`, `1h`.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let bad = || anyhow!("invalid duration `{s}`");
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .ok_or_else(bad)?;
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ns" => n / 1e9,
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(bad()),
    };
    if secs <= 0.0 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

pub fn run(a: &EventsArgs, ctx: &Ctx) -> Result<i32> {
    let interval = parse_duration(&a.interval)?;
    let c = Container::load(&ctx.root, &a.id, false)?;
    if c.status() == Status::Stopped {
        return Err(anyhow!("container not running"));
    }
    let dirs = &c.state.cgroup_paths;
    let stats_event = || json!({"type": "stats", "id": c.id, "data": stats::stats(dirs)});
    if a.stats {
        println!("{}", stats_event());
        return Ok(0);
    }
    let mut ooms = stats::oom_kills(dirs);
    let tick = Duration::from_millis(100).min(interval);
    let mut since = Duration::ZERO;
    while c.status() != Status::Stopped {
        std::thread::sleep(tick);
        since += tick;
        let now = stats::oom_kills(dirs);
        if now > ooms {
            println!("{}", json!({"type": "oom", "id": c.id}));
            ooms = now;
        }
        if since >= interval {
            since = Duration::ZERO;
            println!("{}", stats_event());
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("0s").is_err());
    }
}
