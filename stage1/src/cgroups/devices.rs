//! The device controller: the rule list of `linux.resources.devices` plus the devices
//! every container may use (runc's list), as v1 `devices.allow`/`devices.deny` writes or
//! as a cgroup v2 eBPF program of type cgroup-device (which cgroups-rs lacks).

use super::resources::DeviceRule;
use super::writes::Write;
use crate::spec::Device;

/// What every container may use whatever its rules say: mknod of anything, and the
/// standard nodes (runc's AllowedDevices).
pub fn default_rules() -> Vec<DeviceRule> {
    let r = |kind: &str, major: Option<i64>, minor: Option<i64>, access: &str| DeviceRule {
        allow: true,
        kind: Some(kind.into()),
        major,
        minor,
        access: Some(access.into()),
    };
    vec![
        r("c", None, None, "m"),
        r("b", None, None, "m"),
        r("c", Some(1), Some(3), "rwm"),
        r("c", Some(1), Some(8), "rwm"),
        r("c", Some(1), Some(7), "rwm"),
        r("c", Some(5), Some(0), "rwm"),
        r("c", Some(1), Some(5), "rwm"),
        r("c", Some(1), Some(9), "rwm"),
        r("c", Some(5), Some(1), "rwm"),
        r("c", Some(136), None, "rwm"),
        r("c", Some(5), Some(2), "rwm"),
    ]
}

/// The full rule list, in order: the config's rules, the defaults, then an allow for
/// every device of `linux.devices` (runc's order).
pub fn effective_rules(rules: &[DeviceRule], devices: &[Device]) -> Vec<DeviceRule> {
    let mut all = rules.to_vec();
    all.extend(default_rules());
    // A fifo is no device to the device controller.
    for d in devices.iter().filter(|d| d.kind != "p") {
        all.push(DeviceRule {
            allow: true,
            kind: Some(if d.kind == "u" {
                "c".into()
            } else {
                d.kind.clone()
            }),
            major: Some(d.major),
            minor: Some(d.minor),
            access: Some("rwm".into()),
        });
    }
    all
}

fn num(v: Option<i64>) -> String {
    match v {
        Some(n) if n >= 0 => n.to_string(),
        _ => "*".into(),
    }
}

/// `a *:* rwm` style line of a rule.
pub fn v1_line(r: &DeviceRule) -> String {
    let kind = r.kind.as_deref().filter(|k| !k.is_empty()).unwrap_or("a");
    let access = r
        .access
        .as_deref()
        .filter(|a| !a.is_empty())
        .unwrap_or("rwm");
    if kind == "a" {
        return format!("a *:* {access}");
    }
    format!("{kind} {}:{} {access}", num(r.major), num(r.minor))
}

/// v1 writes that replay the rule list: each rule to devices.allow or devices.deny.
pub fn v1_writes(rules: &[DeviceRule]) -> Vec<Write> {
    rules
        .iter()
        .map(|r| Write {
            file: if r.allow {
                "devices.allow"
            } else {
                "devices.deny"
            }
            .into(),
            value: v1_line(r),
        })
        .collect()
}

// eBPF instruction encoding (struct bpf_insn).
const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const AND32_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const RSH32_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const MOV64_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const MOV64_X: u8 = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

/// One eBPF instruction as the kernel reads it (8 bytes).
pub fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    let regs = (src << 4) | (dst & 0xf);
    u64::from(code)
        | (u64::from(regs) << 8)
        | (u64::from(off.cast_unsigned()) << 16)
        | (u64::from(imm.cast_unsigned()) << 32)
}

fn access_bits(a: &str) -> i32 {
    let mut b = 0;
    for c in a.chars() {
        b |= match c {
            'm' => 1,
            'r' => 2,
            'w' => 4,
            _ => 0,
        };
    }
    b
}

/// The cgroup-device program for a rule list: the last matching rule decides (as the
/// v1 replay does), and nothing matching means deny.
///
/// Context (struct bpf_cgroup_dev_ctx): access_type = access << 16 | type at 0, major at
/// 4, minor at 8. Registers: r2 type, r3 access, r4 major, r5 minor.
pub fn bpf_program(rules: &[DeviceRule]) -> Vec<u64> {
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(AND32_K, 2, 0, 0, 0xffff),
        insn(LDX_W, 3, 1, 0, 0),
        insn(RSH32_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    for r in rules.iter().rev() {
        let mut block: Vec<(u8, u8, u8, i32, bool)> = Vec::new(); // (code, dst, src, imm, is_jump)
        let kind = r.kind.as_deref().unwrap_or("a");
        match kind {
            "c" => block.push((JNE_K, 2, 0, 2, true)),
            "b" => block.push((JNE_K, 2, 0, 1, true)),
            _ => {}
        }
        let acc = access_bits(r.access.as_deref().unwrap_or("rwm"));
        if acc != 7 {
            block.push((MOV64_X, 1, 3, 0, false));
            block.push((AND32_K, 1, 0, !acc & 7, false));
            block.push((JNE_K, 1, 0, 0, true));
        }
        if kind != "a" {
            if let Some(m) = r.major.filter(|m| *m >= 0) {
                block.push((JNE_K, 4, 0, i32::try_from(m).unwrap_or(-1), true));
            }
            if let Some(m) = r.minor.filter(|m| *m >= 0) {
                block.push((JNE_K, 5, 0, i32::try_from(m).unwrap_or(-1), true));
            }
        }
        block.push((MOV64_K, 0, 0, i32::from(r.allow), false));
        block.push((EXIT, 0, 0, 0, false));
        let n = block.len();
        for (i, (code, dst, src, imm, jump)) in block.into_iter().enumerate() {
            // A failed check skips the rest of this rule's block.
            let off = if jump {
                i16::try_from(n - i - 1).unwrap_or(0)
            } else {
                0
            };
            p.push(insn(code, dst, src, off, imm));
        }
    }
    p.push(insn(MOV64_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny interpreter for the subset of eBPF the program uses, to test its logic
    /// without loading it.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_possible_wrap
    )]
    fn run(prog: &[u64], kind: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [access << 16 | kind, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let code = (i & 0xff) as u8;
            let dst = ((i >> 8) & 0xf) as usize;
            let src = ((i >> 12) & 0xf) as usize;
            let off = ((i >> 16) & 0xffff) as u16 as i16;
            let imm = (i >> 32) as u32 as i32;
            pc += 1;
            match code {
                LDX_W => r[dst] = u64::from(ctx[(off / 4) as usize]),
                AND32_K => r[dst] = (r[dst] as u32 & imm as u32) as u64,
                RSH32_K => r[dst] = ((r[dst] as u32) >> imm) as u64,
                MOV64_K => r[dst] = imm as i64 as u64,
                MOV64_X => r[dst] = r[src],
                JNE_K => {
                    if r[dst] != imm as i64 as u64 {
                        pc = (pc as i64 + i64::from(off)) as usize;
                    }
                }
                EXIT => return r[0],
                _ => panic!("unknown op {code:#x}"),
            }
        }
    }

    fn rule(
        allow: bool,
        kind: &str,
        major: Option<i64>,
        minor: Option<i64>,
        access: &str,
    ) -> DeviceRule {
        DeviceRule {
            allow,
            kind: Some(kind.into()),
            major,
            minor,
            access: Some(access.into()),
        }
    }

    #[test]
    fn deny_all_then_defaults() {
        let rules = effective_rules(&[rule(false, "a", None, None, "rwm")], &[]);
        let p = bpf_program(&rules);
        assert_eq!(run(&p, 2, 2 | 4, 1, 3), 1, "read/write /dev/null");
        assert_eq!(run(&p, 2, 2, 8, 0), 0, "char 8:0 denied");
        assert_eq!(run(&p, 1, 1, 8, 0), 1, "mknod of a block device allowed");
        assert_eq!(run(&p, 1, 2, 8, 0), 0, "reading a block device denied");
        assert_eq!(run(&p, 2, 2, 136, 4), 1, "any pts");
    }

    #[test]
    fn later_rules_win() {
        let rules = vec![
            rule(true, "a", None, None, "rwm"),
            rule(false, "c", Some(1), Some(3), "w"),
        ];
        let p = bpf_program(&rules);
        assert_eq!(run(&p, 2, 4, 1, 3), 0, "write to null denied");
        assert_eq!(run(&p, 2, 2, 1, 3), 1, "read of null allowed");
        assert_eq!(run(&p, 1, 2, 8, 1), 1, "everything else allowed");
    }

    #[test]
    fn v1_lines() {
        assert_eq!(v1_line(&rule(false, "a", None, None, "rwm")), "a *:* rwm");
        assert_eq!(
            v1_line(&rule(true, "c", Some(136), None, "rwm")),
            "c 136:* rwm"
        );
        let ws = v1_writes(&[
            rule(false, "a", None, None, "rwm"),
            rule(true, "b", Some(8), Some(0), "r"),
        ]);
        assert_eq!(ws[0].file, "devices.deny");
        assert_eq!(ws[1].value, "b 8:0 r");
    }
}
