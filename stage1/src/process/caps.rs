//! The five capability sets: names to bits (unknown names warned about and skipped, as
//! runtime-spec asks), bounding drops, then one capset and the ambient raises.

use std::str::FromStr;

use crate::spec::Capabilities;
use crate::sys;

#[derive(Debug, thiserror::Error)]
pub enum CapsError {
    #[error("drop capability {cap} from the bounding set")]
    Bounding {
        cap: u32,
        #[source]
        source: std::io::Error,
    },
    #[error("set capabilities (effective {effective:#x}, permitted {permitted:#x}, inheritable {inheritable:#x})")]
    Set {
        effective: u64,
        permitted: u64,
        inheritable: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("raise ambient capability {cap}")]
    Ambient {
        cap: u32,
        #[source]
        source: std::io::Error,
    },
}

/// The highest capability number this kernel knows: the last one PR_CAPBSET_READ
/// accepts (a binary search, once per process; the init inherits the answer).
pub fn last_cap() -> u32 {
    static LAST: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *LAST.get_or_init(|| {
        let known = |cap: u32| sys::prctl2(libc::PR_CAPBSET_READ, u64::from(cap), 0).is_ok();
        // Invariant: `lo` is known (CAP_CHOWN, 0, always is), `hi` is not.
        let (mut lo, mut hi) = (0u32, 64u32);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if known(mid) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        lo
    })
}

/// A bit mask of the named capabilities; names this build or kernel does not know are
/// returned separately so the caller can warn.
pub fn mask(names: &[String], last: u32) -> (u64, Vec<String>) {
    let mut m = 0u64;
    let mut unknown = Vec::new();
    for n in names {
        match caps::Capability::from_str(n) {
            Ok(c) if u32::from(c.index()) <= last => m |= 1 << c.index(),
            _ => unknown.push(n.clone()),
        }
    }
    (m, unknown)
}

/// The sets as masks; `None` sets are taken as empty (runc's behaviour).
pub struct CapMasks {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

pub fn masks(c: &Capabilities, warn: &mut dyn FnMut(&str)) -> CapMasks {
    let last = last_cap();
    let mut get = |s: &Option<Vec<String>>| {
        let (m, unknown) = mask(s.as_deref().unwrap_or(&[]), last);
        for u in unknown {
            warn(&format!("unknown capability {u}: ignored"));
        }
        m
    };
    CapMasks {
        bounding: get(&c.bounding),
        effective: get(&c.effective),
        permitted: get(&c.permitted),
        inheritable: get(&c.inheritable),
        ambient: get(&c.ambient),
    }
}

/// Drops every capability not in `keep` from the bounding set (needs CAP_SETPCAP, so
/// this comes before the user switch).
pub fn drop_bounding(keep: u64) -> Result<(), CapsError> {
    for cap in 0..=last_cap() {
        if keep & (1 << cap) == 0 {
            sys::prctl2(libc::PR_CAPBSET_DROP, u64::from(cap), 0)
                .map_err(|source| CapsError::Bounding { cap, source })?;
        }
    }
    Ok(())
}

/// Sets effective, permitted and inheritable at once, then raises the ambient ones.
pub fn apply(m: &CapMasks) -> Result<(), CapsError> {
    sys::capset(m.effective, m.permitted, m.inheritable).map_err(|source| CapsError::Set {
        effective: m.effective,
        permitted: m.permitted,
        inheritable: m.inheritable,
        source,
    })?;
    // The kernel only lets a capability that is both permitted and inheritable be
    // ambient; runc's default config lists ambient ones without inheritable, and runc
    // skips those, so the others are skipped here too.
    let raisable = m.ambient & m.permitted & m.inheritable;
    if raisable != m.ambient {
        crate::logging::debug(&format!(
            "ambient capabilities {:#x} are not inheritable: skipped",
            m.ambient & !raisable
        ));
    }
    for cap in 0..64u32 {
        if raisable & (1 << cap) != 0 {
            sys::prctl2(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE as u64,
                u64::from(cap),
            )
            .map_err(|source| CapsError::Ambient { cap, source })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_known_and_unknown() {
        let names = vec![
            "CAP_CHOWN".to_string(),
            "CAP_KILL".into(),
            "CAP_BOGUS".into(),
        ];
        let (m, unknown) = mask(&names, 40);
        assert_eq!(m, (1 << 0) | (1 << 5));
        assert_eq!(unknown, vec!["CAP_BOGUS".to_string()]);
    }

    #[test]
    fn beyond_kernel_is_unknown() {
        let (m, unknown) = mask(&["CAP_CHECKPOINT_RESTORE".to_string()], 39);
        assert_eq!(m, 0);
        assert_eq!(unknown.len(), 1);
    }
}
