//! seccomp: OCI profiles compiled to BPF (our own compiler, see `compile`), cached
//! under the state root by a hash of the profile so that the next container with the
//! same profile skips parsing and compiling, loaded with seccomp(2), and the notify fd
//! of SCMP_ACT_NOTIFY handed to the profile's listener as runc hands it.

pub mod bpf;
pub mod compile;
pub mod profile;
pub mod table;

pub use compile::Compiled;

use std::io::Write as _;
use std::os::fd::BorrowedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{logging, sys};

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("parse linux.seccomp: {0}")]
    Parse(#[from] serde_json::Error),
    #[error(transparent)]
    Compile(#[from] compile::CompileError),
    #[error("load the seccomp filter")]
    Load(#[source] std::io::Error),
    #[error("send the seccomp notify fd to `{path}`")]
    Listener {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

const MAGIC: &[u8; 4] = b"HSC1";

/// The environment variable naming a cache directory shared by several state roots:
/// hoist gives each pod a root of its own, where a cache would always start cold.
pub const CACHE_ENV: &str = "HOIST_RUNTIME_CACHE";

/// Where compiled programs are kept: `$HOIST_RUNTIME_CACHE/seccomp` when that is an
/// absolute path, else in the state root.
pub fn cache_dir(root: &Path) -> PathBuf {
    match std::env::var_os(CACHE_ENV).map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir.join("seccomp"),
        _ => root.join(".seccomp-cache"),
    }
}

fn key(profile: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(MAGIC);
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(option_env!("HOIST_COMMIT").unwrap_or("unknown").as_bytes());
    h.update(profile);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The cache file: magic, the sha256 of the rest, then flags, notify, the program. A
/// file whose hash does not match (torn, damaged) is compiled again, never loaded.
fn encode(c: &Compiled) -> Vec<u8> {
    let mut body = c.flags.to_le_bytes().to_vec();
    body.push(u8::from(c.notify));
    body.extend_from_slice(&[0, 0, 0]);
    body.extend_from_slice(&bpf::to_bytes(&c.program));
    let mut v = MAGIC.to_vec();
    v.extend_from_slice(&Sha256::digest(&body));
    v.extend_from_slice(&body);
    v
}

fn decode(b: &[u8]) -> Option<Compiled> {
    if b.len() < 4 + 32 + 8 || &b[..4] != MAGIC {
        return None;
    }
    let (sum, body) = b[4..].split_at(32);
    if Sha256::digest(body).as_slice() != sum {
        return None;
    }
    let flags = u32::from_le_bytes(body[0..4].try_into().ok()?);
    Some(Compiled {
        flags,
        notify: body[4] == 1,
        program: bpf::from_bytes(&body[8..])?,
    })
}

/// The compiled program for a config's `linux.seccomp`, from the cache or compiled
/// (and then cached). Syscall names this host does not know are warned about.
pub fn prepare(
    root: &Path,
    value: Option<&serde_json::Value>,
) -> Result<Option<Compiled>, SeccompError> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let raw = serde_json::to_vec(value)?;
    let path = cache_dir(root).join(key(&raw));
    if let Some(c) = std::fs::read(&path).ok().as_deref().and_then(decode) {
        return Ok(Some(c));
    }
    let profile: profile::Profile = serde_json::from_value(value.clone())?;
    let (c, unknown) = compile::compile(&profile)?;
    for name in unknown {
        logging::warn(&format!("seccomp: unknown syscall `{name}`: ignored"));
    }
    if let Err(e) = store(&path, &encode(&c)) {
        logging::debug(&format!("seccomp cache `{}`: {e}", path.display()));
    }
    Ok(Some(c))
}

/// Whether a config's `linux.seccomp` lets `syscall` through whatever its arguments:
/// named by no rule under an allowing default, or named only by argument-free
/// SCMP_ACT_ALLOW rules. No profile (null) allows everything.
pub fn allows_plainly(value: &serde_json::Value, syscall: &str) -> bool {
    if value.is_null() {
        return true;
    }
    let allow = |a: &serde_json::Value| a == "SCMP_ACT_ALLOW";
    let rules: Vec<&serde_json::Value> = value["syscalls"]
        .as_array()
        .map(|rules| {
            rules
                .iter()
                .filter(|r| {
                    r["names"]
                        .as_array()
                        .is_some_and(|n| n.iter().any(|x| x == syscall))
                })
                .collect()
        })
        .unwrap_or_default();
    if rules.is_empty() {
        return allow(&value["defaultAction"]);
    }
    rules.iter().all(|r| allow(&r["action"]))
        && rules
            .iter()
            .any(|r| r["args"].as_array().is_none_or(|a| a.is_empty()))
}

fn store(path: &Path, data: &[u8]) -> std::io::Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(data)?;
    std::fs::rename(&tmp, path)
}

/// Loads the filter into the calling process; the notify fd when it has NOTIFY rules.
pub fn load(c: &Compiled) -> Result<Option<std::os::fd::OwnedFd>, SeccompError> {
    sys::seccomp_set_filter(c.flags, &c.program).map_err(SeccompError::Load)
}

/// Hands the notify fd to the profile's listener: the container process state JSON
/// (runc's format) with the fd attached as SCM_RIGHTS.
pub fn send_to_listener(
    listener: &str,
    metadata: Option<&str>,
    pid: i32,
    state: serde_json::Value,
    fd: BorrowedFd<'_>,
) -> Result<(), SeccompError> {
    let err = |source| SeccompError::Listener {
        path: listener.to_string(),
        source,
    };
    let sock = UnixStream::connect(listener).map_err(err)?;
    let payload = serde_json::json!({
        "ociVersion": crate::OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": metadata.unwrap_or_default(),
        "state": state,
    });
    sys::send_fd(
        std::os::fd::AsFd::as_fd(&sock),
        payload.to_string().as_bytes(),
        fd,
    )
    .map_err(err)
}

/// hoist's default profile: an allow-list of the ordinary syscalls; the ones that
/// reach beyond the container (mount, unshare, setns, keyctl, ptrace, bpf, kernel
/// modules, reboot, clocks, …) fail with EPERM; clone may not make namespaces, and
/// clone3 (whose flags a filter cannot read) says ENOSYS so libc falls back to clone.
pub const DEFAULT_PROFILE: &str = include_str!("default.json");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execveat_allowed_plainly_or_not() {
        use serde_json::json;
        let allows = |p| allows_plainly(&p, "execveat");
        assert!(allows(json!(null)));
        assert!(allows(json!({"defaultAction": "SCMP_ACT_ALLOW"})));
        assert!(allows(json!({"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["execve", "execveat"], "action": "SCMP_ACT_ALLOW"}]})));
        assert!(!allows(json!({"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["execve"], "action": "SCMP_ACT_ALLOW"}]})));
        assert!(!allows(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["execveat"], "action": "SCMP_ACT_ERRNO"}]})));
        assert!(!allows(json!({"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["execveat"], "action": "SCMP_ACT_ALLOW",
                          "args": [{"index": 4, "value": 0, "op": "SCMP_CMP_EQ"}]}]})));
    }

    #[test]
    fn default_profile_compiles_and_denies() {
        let v: serde_json::Value = serde_json::from_str(DEFAULT_PROFILE).unwrap();
        let p: profile::Profile = serde_json::from_value(v).unwrap();
        let (c, unknown) = compile::compile(&p).unwrap();
        assert!(unknown.is_empty(), "{unknown:?}");
        let nr = |n| compile::number(table::X86_64, n).unwrap();
        let run = |n, a0| {
            bpf::eval(
                &c.program,
                nr(n),
                compile::AUDIT_ARCH_X86_64,
                [a0, 0, 0, 0, 0, 0],
            )
            .unwrap()
        };
        assert_eq!(run("read", 0), compile::RET_ALLOW);
        assert_eq!(run("mount", 0), compile::RET_ERRNO | 1);
        assert_eq!(run("unshare", 0), compile::RET_ERRNO | 1);
        assert_eq!(run("clone", 0x11), compile::RET_ALLOW, "fork-like clone");
        assert_eq!(
            run("clone", 0x1000_0000),
            compile::RET_ERRNO | 1,
            "CLONE_NEWUSER"
        );
        assert_eq!(run("clone3", 0), compile::RET_ERRNO | 38);
    }

    #[test]
    fn cache_roundtrip() {
        let d = tempfile::tempdir().unwrap();
        let v: serde_json::Value = serde_json::from_str(DEFAULT_PROFILE).unwrap();
        let a = prepare(d.path(), Some(&v)).unwrap().unwrap();
        assert_eq!(std::fs::read_dir(cache_dir(d.path())).unwrap().count(), 1);
        let b = prepare(d.path(), Some(&v)).unwrap().unwrap();
        assert_eq!(a, b);
        // A damaged cache entry is compiled again, not trusted.
        let entry = std::fs::read_dir(cache_dir(d.path()))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::write(&entry, b"HSC1junk").unwrap();
        assert_eq!(prepare(d.path(), Some(&v)).unwrap().unwrap(), a);
        // One flipped bit in the program, and a file cut at an instruction boundary.
        let mut good = std::fs::read(&entry).unwrap();
        let n = good.len();
        good[n - 3] ^= 1;
        std::fs::write(&entry, &good).unwrap();
        assert_eq!(prepare(d.path(), Some(&v)).unwrap().unwrap(), a);
        let good = std::fs::read(&entry).unwrap();
        std::fs::write(&entry, &good[..good.len() - 8]).unwrap();
        assert_eq!(prepare(d.path(), Some(&v)).unwrap().unwrap(), a);
    }
}
