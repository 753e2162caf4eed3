//! A small classic-BPF assembler for seccomp programs: instructions with labels,
//! conditional jumps kept short (they only ever skip a following `ja`), long jumps as
//! `ja` with a 32-bit offset, resolved in one pass at the end.

pub const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
pub const JEQ_K: u16 = 0x15;
pub const JGT_K: u16 = 0x25;
pub const JGE_K: u16 = 0x35;
pub const AND_K: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
pub const JA: u16 = 0x05;
pub const RET_K: u16 = 0x06;

/// One `struct sock_filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label(usize);

enum Item {
    Op(SockFilter),
    Ja(Label),
    Mark(Label),
}

#[derive(Default)]
pub struct Asm {
    items: Vec<Item>,
    labels: usize,
}

impl Asm {
    pub fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }

    pub fn mark(&mut self, l: Label) {
        self.items.push(Item::Mark(l));
    }

    pub fn op(&mut self, code: u16, jt: u8, jf: u8, k: u32) {
        self.items.push(Item::Op(SockFilter { code, jt, jf, k }));
    }

    pub fn ld(&mut self, offset: u32) {
        self.op(LD_W_ABS, 0, 0, offset);
    }

    pub fn ret(&mut self, action: u32) {
        self.op(RET_K, 0, 0, action);
    }

    pub fn ja(&mut self, l: Label) {
        self.items.push(Item::Ja(l));
    }

    /// `if A <code> k goto l`.
    pub fn jump_if(&mut self, code: u16, k: u32, l: Label) {
        self.op(code, 0, 1, k);
        self.ja(l);
    }

    /// `if !(A <code> k) goto l`.
    pub fn jump_unless(&mut self, code: u16, k: u32, l: Label) {
        self.op(code, 1, 0, k);
        self.ja(l);
    }

    /// Resolves the labels; fails if one was never marked.
    pub fn finish(self) -> Option<Vec<SockFilter>> {
        let mut pos = vec![usize::MAX; self.labels];
        let mut n = 0;
        for it in &self.items {
            match it {
                Item::Mark(l) => pos[l.0] = n,
                _ => n += 1,
            }
        }
        let mut out = Vec::with_capacity(n);
        for it in self.items {
            match it {
                Item::Op(f) => out.push(f),
                Item::Ja(l) => {
                    let target = *pos.get(l.0)?;
                    let off = target.checked_sub(out.len() + 1)?;
                    out.push(SockFilter {
                        code: JA,
                        jt: 0,
                        jf: 0,
                        k: u32::try_from(off).ok()?,
                    });
                }
                Item::Mark(_) => {}
            }
        }
        Some(out)
    }
}

/// The program as bytes (for the cache), and back.
pub fn to_bytes(p: &[SockFilter]) -> Vec<u8> {
    let mut v = Vec::with_capacity(p.len() * 8);
    for f in p {
        v.extend_from_slice(&f.code.to_le_bytes());
        v.push(f.jt);
        v.push(f.jf);
        v.extend_from_slice(&f.k.to_le_bytes());
    }
    v
}

pub fn from_bytes(b: &[u8]) -> Option<Vec<SockFilter>> {
    if !b.len().is_multiple_of(8) {
        return None;
    }
    b.chunks_exact(8)
        .map(|c| {
            Some(SockFilter {
                code: u16::from_le_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            })
        })
        .collect()
}

/// Runs a program on one seccomp_data (nr, arch, args) — for tests and the fuzzer.
pub fn eval(p: &[SockFilter], nr: u32, arch: u32, args: [u64; 6]) -> Option<u32> {
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&nr.to_le_bytes());
    data[4..8].copy_from_slice(&arch.to_le_bytes());
    for (i, a) in args.iter().enumerate() {
        data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
    }
    let mut acc: u32 = 0;
    let mut pc = 0usize;
    for _ in 0..=p.len() {
        let f = p.get(pc)?;
        pc += 1;
        match f.code {
            LD_W_ABS => {
                let o = usize::try_from(f.k).ok()?;
                acc = u32::from_le_bytes(data.get(o..o + 4)?.try_into().ok()?);
            }
            AND_K => acc &= f.k,
            RET_K => return Some(f.k),
            JA => pc += usize::try_from(f.k).ok()?,
            JEQ_K | JGT_K | JGE_K => {
                let t = match f.code {
                    JEQ_K => acc == f.k,
                    JGT_K => acc > f.k,
                    _ => acc >= f.k,
                };
                pc += usize::from(if t { f.jt } else { f.jf });
            }
            _ => return None,
        }
    }
    None
}
