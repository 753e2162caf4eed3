//! Judging a cgroup file's content against what the table wants.

use super::table::Want;

/// The kernel's page size, to which memory limits are rounded down.
pub fn page_size() -> i64 {
    // SAFETY: sysconf takes an integer name and only returns a value.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p
    } else {
        4096
    }
}

/// Expands a cpu/node list (`0-2,5`) to its members.
pub fn expand_list(s: &str) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        let num = |x: &str| {
            x.trim()
                .parse::<u32>()
                .map_err(|e| format!("list {s:?}: {x:?}: {e}"))
        };
        match part.split_once('-') {
            Some((a, b)) => out.extend(num(a)?..=num(b)?),
            None => out.push(num(part)?),
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Whether `access` (of devices.list, `rwm` letters) covers every letter of `want`.
fn covers(access: &str, want: &str) -> bool {
    want.chars().all(|c| access.contains(c))
}

/// Judges a file's content against what it must hold.
pub fn judge(want: &Want, text: &str) -> Result<(), String> {
    let got = text.trim();
    let lines = || {
        got.lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
    };
    match want {
        Want::Exact(w) => (got == w)
            .then_some(())
            .ok_or_else(|| format!("expected {w:?}, got {got:?}")),
        Want::Bytes(b) => {
            let ok = if *b < 0 {
                got == "max" || got.parse::<u64>().is_ok_and(|v| v >= 1 << 62)
            } else {
                let page = page_size();
                got.parse::<i64>()
                    .is_ok_and(|v| v == *b || v == *b - b.rem_euclid(page))
            };
            ok.then_some(())
                .ok_or_else(|| format!("expected {b} bytes (rounded down to pages), got {got:?}"))
        }
        Want::List(w) => {
            let (a, b) = (expand_list(w)?, expand_list(got)?);
            (a == b)
                .then_some(())
                .ok_or_else(|| format!("expected {w:?}, got {got:?}"))
        }
        Want::Line(fields) => lines()
            .any(|l| l.len() >= fields.len() && l.iter().zip(fields).all(|(a, b)| a == b))
            .then_some(())
            .ok_or_else(|| format!("no line {:?} in {got:?}", fields.join(" "))),
        Want::Keyed { dev, key, value } => {
            let line = lines()
                .find(|l| l.first() == Some(&dev.as_str()))
                .ok_or_else(|| format!("no line for {dev} in {got:?}"))?;
            let kv = format!("{key}={value}");
            line.contains(&kv.as_str())
                .then_some(())
                .ok_or_else(|| format!("{dev}: expected {kv}, got {:?}", line.join(" ")))
        }
        Want::Device {
            ty,
            major,
            minor,
            access,
        } => {
            let num = |s: &str| {
                if s == "*" {
                    None
                } else {
                    s.parse::<i64>().ok()
                }
            };
            let granted = lines().any(|l| {
                let (Some(t), Some(mm), Some(acc)) = (l.first(), l.get(1), l.get(2)) else {
                    return false;
                };
                let (ma, mi) = mm.split_once(':').unwrap_or((mm, "*"));
                let type_ok = *t == "a" || t == ty;
                let major_ok = num(ma).is_none() || num(ma) == *major;
                let minor_ok = num(mi).is_none() || num(mi) == *minor;
                type_ok && major_ok && minor_ok && covers(acc, access)
            });
            granted.then_some(()).ok_or_else(|| {
                format!(
                    "no line grants {ty} {}:{} {access} in {got:?}",
                    major.map_or("*".into(), |m| m.to_string()),
                    minor.map_or("*".into(), |m| m.to_string())
                )
            })
        }
    }
}

#[cfg(test)]
#[allow(unused_imports)] // The conformance harness includes this file too, without its tests.
mod tests {
    use super::*;

    #[test]
    fn judging() {
        assert!(judge(&Want::Bytes(40_000_000), "39997440\n").is_ok());
        assert!(judge(&Want::Bytes(-1), "9223372036854771712").is_ok());
        assert!(judge(&Want::Bytes(-1), "max").is_ok());
        assert!(judge(&Want::Bytes(4096), "8192").is_err());
        assert!(judge(&Want::List("0,1".into()), "0-1").is_ok());
        let oom = Want::Line(vec!["oom_kill_disable".into(), "1".into()]);
        assert!(judge(&oom, "oom_kill_disable 1\nunder_oom 0\n").is_ok());
        assert!(judge(&oom, "oom_kill_disable 0\nunder_oom 0\n").is_err());
        let io = Want::Keyed {
            dev: "254:0".into(),
            key: "rbps".into(),
            value: "1048576".into(),
        };
        assert!(judge(&io, "254:0 rbps=1048576 wbps=max riops=max wiops=300").is_ok());
        let dev = Want::Device {
            ty: "b".into(),
            major: Some(8),
            minor: Some(20),
            access: "rw".into(),
        };
        assert!(judge(&dev, "c *:* m\nb 8:20 rwm\n").is_ok());
        assert!(judge(&dev, "c *:* m\nb 8:20 r\n").is_err());
        assert!(judge(&dev, "a *:* rwm\n").is_ok());
    }
}
