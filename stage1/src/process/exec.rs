//! Finding the program in the container (PATH from the process env, as runc does) and
//! the final execve.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::sys;

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    // Engines (podman, containerd) match these phrases to pick exit codes 127 and 126.
    #[error("exec: \"{0}\": executable file not found in $PATH")]
    NotFound(String),
    #[error("exec: \"{0}\": permission denied")]
    Denied(String),
    #[error("exec: \"{0}\": stat: no such file or directory")]
    Missing(String),
    #[error("exec `{path}`")]
    Exec {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("argument or environment contains a NUL byte")]
    Nul,
}

/// Resolves `prog` against PATH (from `env`, else the default) in the current root.
pub fn find(prog: &str, env: &[String]) -> Result<CString, ExecError> {
    let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).map_err(|_| ExecError::Nul);
    if prog.contains('/') {
        let p = c(Path::new(prog))?;
        return match std::fs::metadata(prog) {
            Err(_) => Err(ExecError::Missing(prog.into())),
            Ok(m) if m.is_dir() || !sys::is_executable(&p) => Err(ExecError::Denied(prog.into())),
            Ok(_) => Ok(p),
        };
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let mut denied = false;
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let cand = PathBuf::from(dir).join(prog);
        if let Ok(m) = std::fs::metadata(&cand) {
            let p = c(&cand)?;
            if m.is_file() && sys::is_executable(&p) {
                return Ok(p);
            }
            denied = true;
        }
    }
    Err(if denied {
        ExecError::Denied(prog.into())
    } else {
        ExecError::NotFound(prog.into())
    })
}

/// The argv and envp arrays for execve.
pub fn cstrings(v: &[String]) -> Result<Vec<CString>, ExecError> {
    v.iter()
        .map(|s| CString::new(s.as_bytes()).map_err(|_| ExecError::Nul))
        .collect()
}
