//! Capability names and the sets a process must end up with after the runtime applied
//! `process.capabilities` and exec'd it.
//!
//! The runtime sets the five sets before exec; execve(2) then recomputes permitted,
//! effective and ambient (capabilities(7), `cap_bprm_creds_from_file` in the kernel).
//! The checker runs after that exec, so it must expect what the kernel makes of the
//! configured sets, not the sets themselves:
//!
//! - ambient: only a capability both permitted and inheritable can be raised, so
//!   A' = A & P & I;
//! - a process with uid 0 (and no SECBIT_NOROOT, which no runtime sets) gets the
//!   "root" file capabilities: P' = B | I (B the bounding set at exec), E' = P'. With
//!   no_new_privs set, the kernel does not let exec grow the permitted set, so
//!   P' = (B | I) & P;
//! - any other uid exec'ing a file without file capabilities gets P' = E' = A'.
//!
//! Bounding and inheritable pass through exec unchanged.

/// `CAP_*` names by number (linux/capability.h), up to CAP_CHECKPOINT_RESTORE.
pub const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The bit of a capability name, `None` for a name this table does not know (the spec
/// says a runtime warns about those and goes on, so the checker ignores them too).
pub fn bit(name: &str) -> Option<u64> {
    NAMES.iter().position(|n| *n == name).map(|i| 1u64 << i)
}

/// The mask of the capabilities named in `names`, limited to what the kernel knows.
pub fn mask<'a>(names: impl IntoIterator<Item = &'a str>, kernel: u64) -> u64 {
    names.into_iter().filter_map(bit).fold(0, |m, b| m | b) & kernel
}

/// The names in a mask, for messages; unknown bits show as their number.
pub fn names(mask: u64) -> String {
    let v: Vec<String> = (0..64)
        .filter(|i| mask & (1u64 << i) != 0)
        .map(|i| {
            NAMES
                .get(i)
                .map_or_else(|| format!("cap{i}"), |n| (*n).to_owned())
        })
        .collect();
    format!("[{}]", v.join(" "))
}

/// The mask of every capability up to `last` (/proc/sys/kernel/cap_last_cap).
pub fn kernel_mask(last: u32) -> u64 {
    if last >= 63 {
        u64::MAX
    } else {
        (1u64 << (last + 1)) - 1
    }
}

/// The five configured sets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sets {
    pub bounding: u64,
    pub effective: u64,
    pub inheritable: u64,
    pub permitted: u64,
    pub ambient: u64,
}

/// What execve(2) makes of the configured sets (see the module comment).
pub fn after_exec(cfg: Sets, uid_is_root: bool, no_new_privs: bool) -> Sets {
    let ambient = cfg.ambient & cfg.permitted & cfg.inheritable;
    let (permitted, effective) = if uid_is_root {
        let mut p = cfg.bounding | cfg.inheritable;
        if no_new_privs {
            p &= cfg.permitted;
        }
        (p, p)
    } else {
        (ambient, ambient)
    };
    Sets {
        bounding: cfg.bounding,
        effective,
        inheritable: cfg.inheritable,
        permitted,
        ambient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_bits() {
        assert_eq!(bit("CAP_CHOWN"), Some(1));
        assert_eq!(bit("CAP_KILL"), Some(1 << 5));
        assert_eq!(bit("CAP_CHECKPOINT_RESTORE"), Some(1 << 40));
        assert_eq!(bit("CAP_TEST"), None);
        let all = kernel_mask(40);
        assert_eq!(all, 0x1ff_ffff_ffff);
        assert_eq!(
            mask(["CAP_KILL", "CAP_AUDIT_WRITE", "CAP_NET_BIND_SERVICE"], all),
            0x2000_0420
        );
        assert_eq!(mask(["CAP_BPF", "CAP_TEST"], kernel_mask(38)), 0);
        assert_eq!(
            names(0x2000_0420),
            "[CAP_KILL CAP_NET_BIND_SERVICE CAP_AUDIT_WRITE]"
        );
        assert_eq!(names(1 << 50), "[cap50]");
        assert_eq!(kernel_mask(63), u64::MAX);
    }

    #[test]
    fn root_gets_bounding_and_inheritable() {
        let cfg = Sets {
            bounding: 0b1111,
            effective: 0b1,
            permitted: 0b11,
            inheritable: 0b10000,
            ambient: 0,
        };
        let got = after_exec(cfg, true, false);
        assert_eq!((got.permitted, got.effective), (0b11111, 0b11111));
        // no_new_privs: exec may not grow the permitted set.
        let got = after_exec(cfg, true, true);
        assert_eq!((got.permitted, got.effective), (0b11, 0b11));
    }

    #[test]
    fn non_root_keeps_only_ambient() {
        let cfg = Sets {
            bounding: 0b111,
            effective: 0b111,
            permitted: 0b111,
            inheritable: 0b011,
            ambient: 0b110,
        };
        let got = after_exec(cfg, false, true);
        assert_eq!(got.ambient, 0b010);
        assert_eq!((got.permitted, got.effective), (0b010, 0b010));
        assert_eq!((got.bounding, got.inheritable), (0b111, 0b011));
    }
}
