//! An OCI seccomp profile compiled to one classic-BPF program.
//!
//! We emit the BPF ourselves instead of using seccompiler: seccompiler allows one match
//! action per filter and one architecture per filter, while an OCI profile mixes
//! actions (ALLOW, ERRNO with per-rule errno, NOTIFY, …) and lists several
//! architectures (x86_64 with x86 and x32). The program: check the architecture, then
//! a binary search over the syscall numbers, then per syscall its rules in profile order
//! (argument checks, then the action), falling back to the default action.

use std::collections::BTreeMap;

use super::bpf::{Asm, Label, SockFilter, AND_K, JEQ_K, JGE_K, JGT_K};
use super::profile::{Arg, Profile};
use super::table;

pub const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const RET_KILL_THREAD: u32 = 0;
pub const RET_TRAP: u32 = 0x0003_0000;
pub const RET_ERRNO: u32 = 0x0005_0000;
pub const RET_USER_NOTIF: u32 = 0x7fc0_0000;
pub const RET_TRACE: u32 = 0x7ff0_0000;
pub const RET_LOG: u32 = 0x7ffc_0000;
pub const RET_ALLOW: u32 = 0x7fff_0000;

/// The kernel's limit on a filter's length (BPF_MAXINSNS).
const MAX_INSNS: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("seccomp: unknown action `{0}`")]
    Action(String),
    #[error("seccomp: unknown operator `{0}`")]
    Operator(String),
    #[error("seccomp: unknown flag `{0}`")]
    Flag(String),
    #[error("seccomp: argument index {0} is out of range (0..5)")]
    ArgIndex(u32),
    #[error("seccomp: the program has {0} instructions, more than the kernel's 4096")]
    TooLong(usize),
    #[error("seccomp: internal jump error")]
    Jump,
}

/// A compiled profile: the program and how to load it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiled {
    pub program: Vec<SockFilter>,
    /// SECCOMP_FILTER_FLAG_* bits (NEW_LISTENER added when a rule notifies).
    pub flags: u32,
    pub notify: bool,
}

fn action(name: &str, errno: Option<u32>) -> Result<u32, CompileError> {
    let e = errno.unwrap_or(libc::EPERM as u32) & 0xffff;
    Ok(match name {
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => RET_KILL_THREAD,
        "SCMP_ACT_KILL_PROCESS" => RET_KILL_PROCESS,
        "SCMP_ACT_TRAP" => RET_TRAP,
        "SCMP_ACT_ERRNO" => RET_ERRNO | e,
        "SCMP_ACT_TRACE" => RET_TRACE | e,
        "SCMP_ACT_ALLOW" => RET_ALLOW,
        "SCMP_ACT_LOG" => RET_LOG,
        "SCMP_ACT_NOTIFY" => RET_USER_NOTIF,
        other => return Err(CompileError::Action(other.to_string())),
    })
}

pub fn flag(name: &str) -> Result<u32, CompileError> {
    Ok(match name {
        "SECCOMP_FILTER_FLAG_TSYNC" => 1,
        "SECCOMP_FILTER_FLAG_LOG" => 2,
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => 4,
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => 32,
        other => return Err(CompileError::Flag(other.to_string())),
    })
}

const FLAG_NEW_LISTENER: u32 = 8;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Abi {
    X86_64,
    X32,
    I386,
}

impl Abi {
    fn table(self) -> &'static [(&'static str, u32)] {
        match self {
            Abi::X86_64 => table::X86_64,
            Abi::X32 => table::X32,
            Abi::I386 => table::I386,
        }
    }

    /// 64-bit arguments (i386's are 32 bits: only the low word is compared).
    fn wide(self) -> bool {
        self != Abi::I386
    }
}

/// A syscall's number on an ABI.
pub fn number(abi_table: &[(&str, u32)], name: &str) -> Option<u32> {
    abi_table
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .map(|i| abi_table[i].1)
}

type Rules<'a> = BTreeMap<u32, Vec<(u32, &'a [Arg])>>;

/// The per-syscall rules of `p` for one ABI.
fn rules_for<'a>(
    p: &'a Profile,
    abi: Abi,
    default: u32,
    unknown: &mut Vec<String>,
) -> Result<Rules<'a>, CompileError> {
    let mut m: Rules<'a> = BTreeMap::new();
    for r in &p.syscalls {
        let act = action(&r.action, r.errno_ret)?;
        for a in &r.args {
            if a.index > 5 {
                return Err(CompileError::ArgIndex(a.index));
            }
            check_op(&a.op)?;
        }
        if act == default && r.args.is_empty() {
            continue;
        }
        for name in &r.names {
            match number(abi.table(), name) {
                Some(nr) => m.entry(nr).or_default().push((act, &r.args)),
                None if abi == Abi::X86_64 && !unknown.contains(name) => unknown.push(name.clone()),
                None => {}
            }
        }
    }
    Ok(m)
}

fn check_op(op: &str) -> Result<(), CompileError> {
    match op {
        "SCMP_CMP_NE" | "SCMP_CMP_LT" | "SCMP_CMP_LE" | "SCMP_CMP_EQ" | "SCMP_CMP_GE"
        | "SCMP_CMP_GT" | "SCMP_CMP_MASKED_EQ" => Ok(()),
        other => Err(CompileError::Operator(other.to_string())),
    }
}

/// Compiles `p`; names of syscalls this host does not know are returned to warn about
/// (runtime-spec: skip them).
pub fn compile(p: &Profile) -> Result<(Compiled, Vec<String>), CompileError> {
    let default = action(&p.default_action, p.default_errno_ret)?;
    let mut flags = 0;
    for f in &p.flags {
        flags |= flag(f)?;
    }
    let listed = |n: &str| p.architectures.iter().any(|a| a == n);
    let mut unknown = Vec::new();
    let x64 = rules_for(p, Abi::X86_64, default, &mut unknown)?;
    let x32 = if listed("SCMP_ARCH_X32") {
        Some(rules_for(p, Abi::X32, default, &mut unknown)?)
    } else {
        None
    };
    let i386 = if listed("SCMP_ARCH_X86") {
        Some(rules_for(p, Abi::I386, default, &mut unknown)?)
    } else {
        None
    };

    let mut a = Asm::default();
    let (l64, l32, lbad) = (a.label(), a.label(), a.label());
    a.ld(4);
    a.jump_if(JEQ_K, AUDIT_ARCH_X86_64, l64);
    if i386.is_some() {
        a.jump_if(JEQ_K, AUDIT_ARCH_I386, l32);
    }
    a.ja(lbad);

    a.mark(l64);
    a.ld(0);
    let lx32 = a.label();
    // x32 syscalls come in with the x86_64 audit arch and bit 30 set.
    a.jump_if(
        JGE_K,
        X32_SYSCALL_BIT,
        if x32.is_some() { lx32 } else { lbad },
    );
    emit_abi(&mut a, &x64, default, Abi::X86_64);
    if let Some(r) = &x32 {
        a.mark(lx32);
        a.ld(0);
        emit_abi(&mut a, r, default, Abi::X32);
    }
    if let Some(r) = &i386 {
        a.mark(l32);
        a.ld(0);
        emit_abi(&mut a, r, default, Abi::I386);
    }
    // Classic BPF only jumps forward: the bad-architecture exit comes last.
    a.mark(lbad);
    a.ret(RET_KILL_PROCESS);
    let program = a.finish().ok_or(CompileError::Jump)?;
    if program.len() > MAX_INSNS {
        return Err(CompileError::TooLong(program.len()));
    }
    let notify = default == RET_USER_NOTIF
        || [&Some(x64), &x32, &i386].iter().any(|r| {
            r.as_ref()
                .is_some_and(|m| m.values().flatten().any(|(act, _)| *act == RET_USER_NOTIF))
        });
    if notify {
        flags |= FLAG_NEW_LISTENER;
    }
    Ok((
        Compiled {
            program,
            flags,
            notify,
        },
        unknown,
    ))
}

/// Where a syscall number leads: the default action, a shared `ret` of one action
/// (syscalls with a single argument-free rule), or the syscall's own body.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Default,
    Action(u32),
    Body(u32),
}

/// Dispatch on the syscall number (in A) and the bodies of every syscall. Numbers are
/// merged into intervals of equal target and found by binary search, so an allow-list
/// of ~300 syscalls costs ~100 intervals, not ~300 comparisons (libseccomp does the
/// same); one ABI's whole program stays far below the kernel's 4096 instructions.
fn emit_abi(a: &mut Asm, rules: &Rules<'_>, default: u32, abi: Abi) {
    let target = |nr: &u32| match rules[nr].as_slice() {
        [(act, [])] => Target::Action(*act),
        _ => Target::Body(*nr),
    };
    // (first number, target) — each interval runs up to the next one's start.
    let mut iv: Vec<(u32, Target)> = vec![(0, Target::Default)];
    for nr in rules.keys() {
        for (start, t) in [(*nr, target(nr)), (nr.saturating_add(1), Target::Default)] {
            match iv.last_mut() {
                Some(last) if last.0 == start => last.1 = t,
                _ => iv.push((start, t)),
            }
        }
    }
    iv.dedup_by(|b, a| a.1 == b.1);
    let ldef = a.label();
    let mut actions: Vec<(u32, Label)> = Vec::new();
    let mut bodies: Vec<(u32, Label)> = Vec::new();
    let labels: Vec<(u32, Label)> = iv
        .iter()
        .map(|(start, t)| {
            let l = match t {
                Target::Default => ldef,
                Target::Action(act) => find_or_add(a, &mut actions, *act),
                Target::Body(nr) => find_or_add(a, &mut bodies, *nr),
            };
            (*start, l)
        })
        .collect();
    search(a, &labels);
    a.mark(ldef);
    a.ret(default);
    for (act, l) in &actions {
        a.mark(*l);
        a.ret(*act);
    }
    for (nr, l) in &bodies {
        a.mark(*l);
        for (act, args) in &rules[nr] {
            let next = a.label();
            for arg in args.iter() {
                emit_arg(a, arg, abi.wide(), next);
            }
            a.ret(*act);
            a.mark(next);
        }
        a.ret(default);
    }
}

fn find_or_add(a: &mut Asm, v: &mut Vec<(u32, Label)>, key: u32) -> Label {
    if let Some((_, l)) = v.iter().find(|(k, _)| *k == key) {
        return *l;
    }
    let l = a.label();
    v.push((key, l));
    l
}

/// A binary search over intervals (sorted by their first number); A holds the number.
fn search(a: &mut Asm, iv: &[(u32, Label)]) {
    match iv {
        [] => {}
        [(_, l)] => a.ja(*l),
        _ => {
            let mid = iv.len() / 2;
            let right = a.label();
            a.jump_if(JGE_K, iv[mid].0, right);
            search(a, &iv[..mid]);
            a.mark(right);
            search(a, &iv[mid..]);
        }
    }
}

#[allow(clippy::cast_possible_truncation)]
fn split(v: u64) -> (u32, u32) {
    ((v >> 32) as u32, v as u32)
}

/// Jumps to `fail` unless the argument condition holds. Clobbers A.
fn emit_arg(a: &mut Asm, arg: &Arg, wide: bool, fail: Label) {
    let lo_off = 16 + 8 * arg.index;
    let hi_off = lo_off + 4;
    let (hv, lv) = split(arg.value);
    let ok = a.label();
    match arg.op.as_str() {
        "SCMP_CMP_EQ" => {
            if wide {
                a.ld(hi_off);
                a.jump_unless(JEQ_K, hv, fail);
            }
            a.ld(lo_off);
            a.jump_unless(JEQ_K, lv, fail);
        }
        "SCMP_CMP_NE" => {
            if wide {
                a.ld(hi_off);
                a.jump_unless(JEQ_K, hv, ok);
            }
            a.ld(lo_off);
            a.jump_if(JEQ_K, lv, fail);
        }
        "SCMP_CMP_GT" | "SCMP_CMP_GE" => {
            if wide {
                a.ld(hi_off);
                a.jump_if(JGT_K, hv, ok);
                a.jump_unless(JEQ_K, hv, fail);
            }
            a.ld(lo_off);
            a.jump_unless(
                if arg.op == "SCMP_CMP_GT" {
                    JGT_K
                } else {
                    JGE_K
                },
                lv,
                fail,
            );
        }
        "SCMP_CMP_LT" | "SCMP_CMP_LE" => {
            if wide {
                a.ld(hi_off);
                a.jump_unless(JGE_K, hv, ok);
                a.jump_unless(JEQ_K, hv, fail);
            }
            a.ld(lo_off);
            a.jump_if(
                if arg.op == "SCMP_CMP_LT" {
                    JGE_K
                } else {
                    JGT_K
                },
                lv,
                fail,
            );
        }
        _ => {
            // SCMP_CMP_MASKED_EQ: (arg & value) == valueTwo.
            let (hm, lm) = (hv, lv);
            let (h2, l2) = split(arg.value_two);
            if wide {
                a.ld(hi_off);
                a.op(AND_K, 0, 0, hm);
                a.jump_unless(JEQ_K, h2, fail);
            }
            a.ld(lo_off);
            a.op(AND_K, 0, 0, lm);
            a.jump_unless(JEQ_K, l2, fail);
        }
    }
    a.mark(ok);
}

#[cfg(test)]
mod tests {
    use super::super::bpf::eval;
    use super::*;

    fn profile(v: serde_json::Value) -> Profile {
        serde_json::from_value(v).unwrap()
    }

    fn nr(name: &str) -> u32 {
        number(table::X86_64, name).unwrap()
    }

    fn run(c: &Compiled, name: &str, args: [u64; 6]) -> u32 {
        eval(&c.program, nr(name), AUDIT_ARCH_X86_64, args).unwrap()
    }

    #[test]
    fn allow_list_with_errno_default() {
        let p = profile(
            serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
            "syscalls": [{"names": ["read", "write", "exit_group", "bogus_call"], "action": "SCMP_ACT_ALLOW"},
                         {"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}),
        );
        let (c, unknown) = compile(&p).unwrap();
        assert_eq!(unknown, vec!["bogus_call".to_string()]);
        assert_eq!(run(&c, "read", [0; 6]), RET_ALLOW);
        assert_eq!(run(&c, "exit_group", [0; 6]), RET_ALLOW);
        assert_eq!(run(&c, "mount", [0; 6]), RET_ERRNO | 1);
        assert_eq!(run(&c, "openat", [0; 6]), RET_ERRNO | 38);
        assert!(!c.notify);
    }

    #[test]
    fn many_syscalls_binary_search() {
        let names: Vec<&str> = table::X86_64.iter().map(|(n, _)| *n).collect();
        let p = profile(serde_json::json!({"defaultAction": "SCMP_ACT_KILL_PROCESS",
            "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]}));
        let (c, _) = compile(&p).unwrap();
        for (n, _) in table::X86_64 {
            assert_eq!(run(&c, n, [0; 6]), RET_ALLOW, "{n}");
        }
        assert_eq!(
            eval(&c.program, 9999, AUDIT_ARCH_X86_64, [0; 6]),
            Some(RET_KILL_PROCESS)
        );
        assert_eq!(
            eval(&c.program, 0, AUDIT_ARCH_I386, [0; 6]),
            Some(RET_KILL_PROCESS),
            "unlisted arch"
        );
        assert_eq!(
            eval(&c.program, X32_SYSCALL_BIT, AUDIT_ARCH_X86_64, [0; 6]),
            Some(RET_KILL_PROCESS),
            "x32 unlisted"
        );
    }

    #[test]
    fn argument_operators() {
        let rule = |op: &str, v: u64, v2: u64| {
            profile(
                serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["personality"],
                "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": v, "valueTwo": v2, "op": op}]}]}),
            )
        };
        let cases: &[(&str, u64, u64, u64, bool)] = &[
            ("SCMP_CMP_EQ", 5, 0, 5, true),
            ("SCMP_CMP_EQ", 5, 0, 5 | (1 << 32), false),
            ("SCMP_CMP_NE", 5, 0, 6, true),
            ("SCMP_CMP_NE", 5, 0, 5, false),
            ("SCMP_CMP_NE", 5, 0, 5 | (1 << 32), true),
            ("SCMP_CMP_GT", 5, 0, 6, true),
            ("SCMP_CMP_GT", 5, 0, 5, false),
            ("SCMP_CMP_GT", 5, 0, 1 << 32, true),
            ("SCMP_CMP_GE", 5, 0, 5, true),
            ("SCMP_CMP_GE", 1 << 32, 0, 5, false),
            ("SCMP_CMP_LT", 5, 0, 4, true),
            ("SCMP_CMP_LT", 5, 0, 5, false),
            ("SCMP_CMP_LT", 1 << 32, 0, 5, true),
            ("SCMP_CMP_LE", 5, 0, 5, true),
            ("SCMP_CMP_LE", 5, 0, 1 << 32, false),
            ("SCMP_CMP_MASKED_EQ", 0xff, 0x0a, 0x10a, true),
            ("SCMP_CMP_MASKED_EQ", 0xff, 0x0a, 0x10b, false),
        ];
        for &(op, v, v2, arg, matches) in cases {
            let (c, _) = compile(&rule(op, v, v2)).unwrap();
            let got = run(&c, "personality", [arg, 0, 0, 0, 0, 0]);
            let want = if matches { RET_ERRNO | 1 } else { RET_ALLOW };
            assert_eq!(got, want, "{op} value {v:#x} valueTwo {v2:#x} arg {arg:#x}");
        }
    }

    #[test]
    fn several_rules_for_one_syscall_in_order() {
        let p = profile(
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "args": [{"index": 0, "value": 0x1000_0000, "valueTwo": 0x1000_0000, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["clone"], "action": "SCMP_ACT_NOTIFY"}]}),
        );
        let (c, _) = compile(&p).unwrap();
        assert_eq!(
            run(&c, "clone", [0x1000_0000, 0, 0, 0, 0, 0]),
            RET_ERRNO | 13
        );
        assert_eq!(run(&c, "clone", [0, 0, 0, 0, 0, 0]), RET_USER_NOTIF);
        assert!(c.notify);
        assert_eq!(c.flags & FLAG_NEW_LISTENER, FLAG_NEW_LISTENER);
    }

    #[test]
    fn other_arches() {
        let p = profile(
            serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}]}),
        );
        let (c, _) = compile(&p).unwrap();
        let i386 = number(table::I386, "getpid").unwrap();
        let x32 = number(table::X32, "getpid").unwrap();
        assert_eq!(
            eval(&c.program, i386, AUDIT_ARCH_I386, [0; 6]),
            Some(RET_ALLOW)
        );
        assert_eq!(
            eval(&c.program, x32, AUDIT_ARCH_X86_64, [0; 6]),
            Some(RET_ALLOW)
        );
        assert_eq!(
            eval(&c.program, x32 + 1, AUDIT_ARCH_X86_64, [0; 6]),
            Some(RET_ERRNO | 1)
        );
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(compile(&profile(
            serde_json::json!({"defaultAction": "SCMP_ACT_BOGUS"})
        ))
        .is_err());
        assert!(compile(&profile(
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["NOPE"]})
        ))
        .is_err());
        assert!(compile(&profile(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 7, "value": 0, "op": "SCMP_CMP_EQ"}]}]}))).is_err());
        assert!(compile(&profile(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_XX"}]}]}))).is_err());
    }
}
