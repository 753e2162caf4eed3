//! The bodies of the fuzz targets (fuzz/), public so that cargo-fuzz calls them and
//! `cargo test` runs them over a fixed corpus of mutated inputs.

use crate::seccomp::{bpf, compile, profile::Profile};
use crate::spec::{self, Spec};

/// config.json bytes: parse, validate, and parse and compile the parts the runtime
/// compiles. Never panics.
pub fn config_json(data: &[u8]) {
    let Ok(s) = serde_json::from_slice::<Spec>(data) else {
        return;
    };
    let _ = spec::validate(&s);
    let _ = crate::cgroups::Resources::from_value(s.linux().resources.as_ref()).map(|r| {
        let _ = crate::cgroups::writes::v2(&r, &[]);
        for c in crate::cgroups::writes::v1_controllers(&r) {
            let _ = crate::cgroups::writes::v1(c, &r);
        }
        crate::cgroups::devices::bpf_program(&crate::cgroups::devices::effective_rules(
            &r.devices,
            &s.linux().devices,
        ))
    });
    if let Some(v) = s.linux().seccomp.as_ref() {
        if let Ok(p) = serde_json::from_value::<Profile>(v.clone()) {
            let _ = compile::compile(&p);
        }
    }
}

/// Seccomp profile bytes: compile; a compiled program must return for any input.
pub fn seccomp_profile(data: &[u8]) {
    let Ok(p) = serde_json::from_slice::<Profile>(data) else {
        return;
    };
    let Ok((c, _)) = compile::compile(&p) else {
        return;
    };
    assert!(c.program.len() <= 4096);
    // The syscall number and args come from the input too.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
    }
    for arch in [compile::AUDIT_ARCH_X86_64, compile::AUDIT_ARCH_I386, 0] {
        for nr in [
            0u32,
            1,
            59,
            435,
            u32::try_from(h & 0x1ff).unwrap_or(0),
            compile::X32_SYSCALL_BIT | 1,
            u32::MAX,
        ] {
            let args = [h, !h, h.rotate_left(17), 0, u64::MAX, 1];
            assert!(
                bpf::eval(&c.program, nr, arch, args).is_some(),
                "program did not return"
            );
        }
    }
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)]
mod tests {
    /// A small deterministic mutation run over seeds, so the no-panic property is
    /// checked on every `cargo test`, not only under the fuzzer.
    fn mutations(seed: &[u8]) -> Vec<Vec<u8>> {
        let mut out = vec![seed.to_vec()];
        let mut x: u32 = 0x1234_5678;
        for _ in 0..300 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let mut m = seed.to_vec();
            let i = (x as usize) % m.len().max(1);
            match x % 4 {
                0 if !m.is_empty() => m[i] = (x >> 8) as u8,
                1 => m.truncate(i),
                2 => m.insert(i.min(m.len()), b"{}[]\",:0-9"[(x as usize >> 3) % 10]),
                _ => {
                    let j = (x as usize >> 5) % m.len().max(1);
                    if i < m.len() && j < m.len() {
                        m.swap(i, j);
                    }
                }
            }
            out.push(m);
        }
        out
    }

    #[test]
    fn config_json_never_panics() {
        let seed = serde_json::to_vec(&crate::commands::spec::default_spec()).unwrap();
        for m in mutations(&seed) {
            super::config_json(&m);
        }
    }

    #[test]
    fn seccomp_never_panics() {
        let seeds = [
            crate::seccomp::DEFAULT_PROFILE.as_bytes().to_vec(),
            br#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["kill"],"action":"SCMP_ACT_ERRNO","args":[{"index":1,"value":9,"valueTwo":0,"op":"SCMP_CMP_GT"}]}]}"#.to_vec(),
        ];
        for s in seeds {
            for m in mutations(&s) {
                super::seccomp_profile(&m);
            }
        }
    }
}
