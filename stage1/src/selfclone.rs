//! The CVE-2019-5736 defence: commands that put processes into a container run from a
//! sealed memfd copy of this binary, never from the host's file.
//!
//! The container init and `exec`'d processes are forks of this process, so until they
//! execve, /proc/PID/exe is our binary; a container program started as
//! `#!/proc/self/exe`, or any process that reaches /proc/1/exe with CAP_SYS_PTRACE,
//! could open it and, once we exit, write to the host's hoist-runtime. A sealed memfd
//! cannot be written by anyone, so there is nothing to overwrite (runc and crun clone
//! themselves the same way).

use std::ffi::CString;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::sys;

const SEALS: i32 = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

#[derive(Debug, thiserror::Error)]
pub enum CloneError {
    #[error("{step} (protecting the runtime binary, CVE-2019-5736)")]
    Io {
        step: &'static str,
        #[source]
        source: std::io::Error,
    },
}

fn io(step: &'static str) -> impl FnOnce(std::io::Error) -> CloneError {
    move |source| CloneError::Io { step, source }
}

/// Whether we already run from a sealed copy.
fn running_sealed() -> bool {
    match sys::openat(None, Path::new("/proc/self/exe"), libc::O_RDONLY, 0) {
        Ok(fd) => sys::get_seals(fd.as_fd()).is_ok_and(|s| s & SEALS == SEALS),
        Err(_) => false,
    }
}

/// Re-executes this process from a sealed memfd copy unless it already runs from one.
/// Returns only when nothing needed doing; an error when the copy could not be made.
pub fn ensure_sealed() -> Result<(), CloneError> {
    if running_sealed() {
        return Ok(());
    }
    let mut exe = std::fs::File::open("/proc/self/exe").map_err(io("open /proc/self/exe"))?;
    let memfd = sys::memfd_create_sealable(c"hoist-runtime").map_err(io("create a memfd"))?;
    let mut out = std::fs::File::from(memfd);
    std::io::copy(&mut exe, &mut out).map_err(io("copy the runtime into a memfd"))?;
    sys::add_seals(out.as_fd(), SEALS).map_err(io("seal the memfd"))?;
    let args: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.as_bytes()).unwrap_or_default())
        .collect();
    let env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut b = k.as_bytes().to_vec();
            b.push(b'=');
            b.extend_from_slice(v.as_bytes());
            CString::new(b).unwrap_or_default()
        })
        .collect();
    let argv = sys::CStrArray::new(&args);
    let envp = sys::CStrArray::new(&env);
    Err(io("re-execute from the sealed memfd")(sys::fexecve(
        out.as_fd(),
        &argv,
        &envp,
    )))
}
