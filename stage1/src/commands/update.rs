//! `update`: new resource limits for a live container, from `--resources FILE|-` or
//! runc's flags; the stored config follows, so `exec` and later updates see them.

use std::io::Read;

use anyhow::{anyhow, bail, Context, Result};

use super::Ctx;
use crate::cgroups::{self, resources::*, Resources};
use crate::cli::UpdateArgs;
use crate::container::{Container, Status};

/// Sizes as runc's flags take them: bytes, or with a k/m/g/t suffix (powers of 1024);
/// -1 means unlimited.
pub fn parse_bytes(s: &str) -> Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let t = t.trim_end_matches('b').trim_end_matches('i');
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| anyhow!("invalid size `{s}`"))?;
    if v < 0.0 {
        bail!("invalid size `{s}`");
    }
    #[allow(clippy::cast_possible_truncation)]
    Ok((v * mult as f64) as i64)
}

fn from_flags(a: &UpdateArgs) -> Result<Resources> {
    let mut r = Resources::default();
    let mem = |v: &Option<String>| v.as_deref().map(parse_bytes).transpose();
    let (limit, swap, reservation) = (
        mem(&a.memory)?,
        mem(&a.memory_swap)?,
        mem(&a.memory_reservation)?,
    );
    if limit.is_some() || swap.is_some() || reservation.is_some() {
        r.memory = Some(Memory {
            limit,
            swap,
            reservation,
            ..Default::default()
        });
    }
    if a.cpu_shares.is_some()
        || a.cpu_quota.is_some()
        || a.cpu_period.is_some()
        || a.cpuset_cpus.is_some()
        || a.cpuset_mems.is_some()
        || a.cpu_rt_period.is_some()
        || a.cpu_rt_runtime.is_some()
    {
        r.cpu = Some(Cpu {
            shares: a.cpu_shares,
            quota: a.cpu_quota,
            period: a.cpu_period,
            realtime_period: a.cpu_rt_period,
            realtime_runtime: a.cpu_rt_runtime,
            cpus: a.cpuset_cpus.clone(),
            mems: a.cpuset_mems.clone(),
            ..Default::default()
        });
    }
    if let Some(l) = a.pids_limit {
        r.pids = Some(Pids { limit: l });
    }
    if let Some(w) = a.blkio_weight {
        r.block_io = Some(BlockIo {
            weight: Some(w),
            ..Default::default()
        });
    }
    Ok(r)
}

pub fn run(a: &UpdateArgs, ctx: &Ctx) -> Result<i32> {
    let mut c = Container::load(&ctx.root, &a.id, true)?;
    if c.status() == Status::Stopped {
        bail!("container not running");
    }
    let r: Resources = match a.resources.as_deref() {
        Some("-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("read resources from stdin")?;
            serde_json::from_str(&s).context("parse resources from stdin")?
        }
        Some(path) => {
            let s = std::fs::read_to_string(path).with_context(|| format!("read `{path}`"))?;
            serde_json::from_str(&s).with_context(|| format!("parse `{path}`"))?
        }
        None => from_flags(a)?,
    };
    let devices = c.state.config.linux().devices.clone();
    cgroups::apply(&c.state.cgroup_paths, &r, &devices, !r.devices.is_empty())?;
    let linux = c.state.config.linux.get_or_insert_with(Default::default);
    let mut stored = Resources::from_value(linux.resources.as_ref()).unwrap_or_default();
    stored.merge(&r);
    linux.resources = Some(serde_json::to_value(&stored)?);
    c.save()?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert_eq!(parse_bytes("100m").unwrap(), 100 << 20);
        assert_eq!(parse_bytes("1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("2kb").unwrap(), 2048);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        assert!(parse_bytes("lots").is_err());
    }
}
