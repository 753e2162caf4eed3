//! The CVE-2019-5736 defence: commands that put processes into a container run from a
//! copy of this binary that nobody can write, never from the host's file.
//!
//! The container init and `exec`'d processes are forks of this process, so until they
//! execve, /proc/PID/exe is our binary; a container program started as
//! `#!/proc/self/exe`, or any process that reaches /proc/1/exe with CAP_SYS_PTRACE,
//! could open it and, once we exit, write to the host's hoist-runtime. So we re-execute
//! ourselves from a file that cannot be written, in one of two ways:
//!
//! 1. A detached, read-only overlayfs whose lower layers are the binary's directory and,
//!    below it, the state root (or, where that cannot be, an empty tmpfs), made with the
//!    new mount API and never attached anywhere. An overlay without an upper layer is
//!    read-only in its superblock, so no remount can make it writable, and being in no
//!    mount namespace, nothing can reach it but the fds we hold; only the binary is ever
//!    looked up in it. It costs no copy: the pages are the host file's page cache
//!    (runc 1.2 does the same). Each detached mount costs an RCU grace period when its
//!    last fd closes, hence one mount where the state root can be the second layer.
//! 2. Where overlayfs, `lowerdir+` or the mount API is missing (or we may not mount):
//!    a sealed memfd copy, which nobody can write (what runc and crun did first). It
//!    costs a copy of the binary on every call.
//!
//! `run` can mostly do without the re-exec. What the container can reach of a `run`'s
//! init is its exec: until then no container process exists in the init's new pid
//! namespace (and `run` starts it at once: no `exec` can come in between), and the
//! kernel resolves a `#!/proc/self/exe` (or an ELF interpreter of that name) while the
//! exe is still the init's. So the init execs the container process through the exec
//! shim (shim/shim.rs, a few hundred bytes of freestanding code built by build.rs) from
//! a sealed memfd: at that exec /proc/self/exe is the shim, which then execs the
//! process. One cheap exec instead of a whole re-exec of the runtime. `shim_suffices`
//! says when that holds; otherwise `run` re-executes as `create` and `exec` do.

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::spec::Spec;
use crate::{logging, sys};

const SEALS: i32 = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
const OVERLAYFS_SUPER_MAGIC: i64 = 0x794c_7630;

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

/// Whether `exe` (our own /proc/self/exe) is a file nobody can write: a sealed memfd,
/// or a file of a read-only overlayfs (ours, or a host whose binary already lives on
/// one: either way a container cannot reopen it for writing).
fn is_protected(exe: BorrowedFd<'_>) -> bool {
    if sys::get_seals(exe).is_ok_and(|s| s & SEALS == SEALS) {
        return true;
    }
    sys::fs_type(exe).is_ok_and(|t| t == OVERLAYFS_SUPER_MAGIC)
        && sys::fstatfs_flags(exe).is_ok_and(|f| f & libc::ST_RDONLY != 0)
}

/// A protected view of our binary, ready to be executed.
pub struct View {
    exe: OwnedFd,
    /// The detached mounts the view lives on (none for a memfd copy). Dropping the last
    /// reference to a detached mount dissolves it, which waits for an RCU grace period;
    /// our running image holds one until we exit, so `exec` leaves a holder process
    /// with the mount fds that outlives us and pays that wait after our exit.
    mounts: Vec<OwnedFd>,
}

/// A protected view of our binary, or `None` when we already run from one.
/// `state_root` (created if missing) serves as the overlay's second lower layer.
pub fn view(state_root: &Path) -> Result<Option<View>, CloneError> {
    let exe = own_exe()?;
    if is_protected(exe.as_fd()) {
        return Ok(None);
    }
    view_of(exe, state_root).map(Some)
}

/// For `run`: the sealed exec shim for the init to exec its process through, or
/// `None` when we already run from a protected binary. Where the shim does not suffice
/// for `spec` or cannot be had, re-executes this process from a protected view
/// instead, as `create` does; returns only if that fails.
pub fn run_guard(state_root: &Path, spec: &Spec) -> Result<Option<OwnedFd>, CloneError> {
    let exe = own_exe()?;
    if is_protected(exe.as_fd()) {
        return Ok(None);
    }
    if shim_suffices(spec) {
        match shim() {
            Ok(Some(fd)) => return Ok(Some(fd)),
            Ok(None) => {}
            Err(e) => logging::debug(&format!("exec shim unavailable ({e}): re-executing")),
        }
    }
    Err(view_of(exe, state_root)?.exec())
}

fn own_exe() -> Result<OwnedFd, CloneError> {
    sys::openat(None, Path::new("/proc/self/exe"), libc::O_RDONLY, 0)
        .map_err(io("open /proc/self/exe"))
}

fn view_of(exe: OwnedFd, state_root: &Path) -> Result<View, CloneError> {
    match overlay_view(state_root) {
        Ok(v) => Ok(v),
        Err(e) => {
            logging::debug(&format!(
                "read-only overlay of the runtime binary unavailable ({e}): using a sealed memfd copy"
            ));
            Ok(View {
                exe: memfd_copy(exe)?,
                mounts: Vec::new(),
            })
        }
    }
}

/// The exec shim's bytes, where build.rs could build it.
#[cfg(hoist_shim)]
const SHIM: Option<&[u8]> = Some(include_bytes!(concat!(env!("OUT_DIR"), "/shim")));
#[cfg(not(hoist_shim))]
const SHIM: Option<&[u8]> = None;

/// The exec shim in a sealed memfd (close-on-exec), or `None` where it was not built.
pub fn shim() -> std::io::Result<Option<OwnedFd>> {
    let Some(bytes) = SHIM else {
        return Ok(None);
    };
    let fd = sys::memfd_create_sealable(c"hoist-exec-shim")?;
    sys::write_all(fd.as_fd(), bytes)?;
    sys::add_seals(fd.as_fd(), SEALS)?;
    Ok(Some(fd))
}

/// Whether no container process can see the init of `spec` before it execs, and the
/// shim's exec gets through: a new pid namespace (not one joined, not the host's), no
/// host procfs bound into the container (where host processes, `run` itself, would
/// show), and a seccomp profile, if any, that lets execveat through unconditionally.
pub fn shim_suffices(spec: &Spec) -> bool {
    let linux = spec.linux();
    let new_pid = linux
        .namespaces
        .iter()
        .any(|n| n.kind == "pid" && n.path.as_ref().is_none_or(|p| p.as_os_str().is_empty()));
    let seccomp_ok = linux
        .seccomp
        .as_ref()
        .is_none_or(|p| crate::seccomp::allows_plainly(p, "execveat"));
    let mut mountinfo = None;
    new_pid
        && seccomp_ok
        && !spec
            .mounts
            .iter()
            .any(|m| binds_host_procfs(m, &mut mountinfo))
}

const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// A bind mount of a procfs (or, recursive, of a tree holding one). Sources that cannot
/// be checked count as such: the re-exec is always safe. `mountinfo`: ours, read once
/// when a recursive bind of a directory first needs it.
fn binds_host_procfs(m: &crate::spec::Mount, mountinfo: &mut Option<String>) -> bool {
    let recursive = m.options.iter().any(|o| o == "rbind");
    if !(recursive || m.kind.as_deref() == Some("bind") || m.options.iter().any(|o| o == "bind")) {
        return false;
    }
    let Some(fd) = m
        .source
        .as_deref()
        .and_then(|s| sys::openat(None, s, libc::O_PATH | libc::O_CLOEXEC, 0).ok())
    else {
        return true;
    };
    if sys::fs_type(fd.as_fd()).map_or(true, |t| t == PROC_SUPER_MAGIC) {
        return true;
    }
    // Nothing is mounted below a file; below a directory, look.
    if !recursive
        || sys::fstat(fd.as_fd()).is_ok_and(|st| st.st_mode & libc::S_IFMT != libc::S_IFDIR)
    {
        return false;
    }
    let Ok(real) = std::fs::read_link(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    )) else {
        return true;
    };
    let info = mountinfo
        .get_or_insert_with(|| std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default());
    info.is_empty() || procfs_mounted_under(info, &real)
}

/// Whether `mountinfo` shows a procfs mounted at or below `dir`.
fn procfs_mounted_under(mountinfo: &str, dir: &Path) -> bool {
    mountinfo.lines().any(|l| {
        let mut halves = l.splitn(2, " - ");
        let (Some(left), Some(right)) = (halves.next(), halves.next()) else {
            return false;
        };
        right.split(' ').next() == Some("proc")
            && left
                .split(' ')
                .nth(4)
                .is_some_and(|mp| Path::new(&crate::cgroups::unescape(mp)).starts_with(dir))
    })
}

impl View {
    /// Re-executes this process from the view; returns only on failure.
    pub fn exec(self) -> CloneError {
        if !self.mounts.is_empty() {
            hold_until_exit(&self.mounts);
        }
        drop(self.mounts);
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
        io("re-execute from the protected binary")(sys::fexecve(self.exe.as_fd(), &argv, &envp))
    }
}

/// Forks a process that keeps copies of `fds` (and no other fd of ours) until we exit:
/// PR_SET_PDEATHSIG kills it then, and our caller, who waits for our exit, never waits
/// for its last close of them. Best effort: without it we pay that close ourselves.
fn hold_until_exit(fds: &[OwnedFd]) {
    use std::os::fd::AsRawFd;
    let parent = std::process::id();
    let mut keep: Vec<u32> = fds
        .iter()
        .filter_map(|f| u32::try_from(f.as_raw_fd()).ok())
        .collect();
    keep.sort_unstable();
    // SAFETY: stage1 is single-threaded; the child only makes syscalls and never
    // returns from this function.
    if let Ok(sys::Forked::Child) = unsafe { sys::clone3(0) } {
        // Every fd but the mounts: a pipe the caller reads must not stay open in here.
        let mut from = 0;
        for k in keep.iter().copied().chain(std::iter::once(u32::MAX)) {
            if k > from {
                let _ = sys::close_range(from, k - 1);
            }
            from = k.saturating_add(1);
        }
        let _ = sys::prctl2(libc::PR_SET_PDEATHSIG, libc::SIGKILL as u64, 0);
        if sys::getppid() == parent {
            sys::pause_forever();
        }
        sys::exit_now(0)
    }
}

/// Our binary as seen through a detached read-only overlayfs: an O_PATH fd to exec.
/// Without an upper layer overlayfs wants two lower ones: below the binary's directory
/// goes `state_root` or, failing that (say it contains the binary), an empty tmpfs.
fn overlay_view(state_root: &Path) -> std::io::Result<View> {
    let path = std::fs::read_link("/proc/self/exe")?;
    let invalid = || std::io::Error::from_raw_os_error(libc::EINVAL);
    let dir = sys::cstr(path.parent().ok_or_else(invalid)?)?;
    let name = Path::new(path.file_name().ok_or_else(invalid)?);
    let by_root = crate::container::ensure_root(state_root)
        .map_err(|_| invalid())
        .and_then(|()| {
            let root = sys::cstr(state_root)?;
            overlay_open(&dir, &|ovl| ovl.set_string(c"lowerdir+", &root), name)
        });
    by_root.or_else(|_| {
        use sys::{FsContext, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY};
        let empty = FsContext::open(c"tmpfs")?
            .mount(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)?;
        let mut v = overlay_open(&dir, &|ovl| ovl.set_fd(c"lowerdir+", empty.as_fd()), name)?;
        v.mounts.push(empty);
        Ok(v)
    })
}

/// Mounts (detached) an overlay of `top` over the layer `lower` adds; opens `name` in it.
fn overlay_open(
    top: &std::ffi::CStr,
    lower: &dyn Fn(&sys::FsContext) -> std::io::Result<()>,
    name: &Path,
) -> std::io::Result<View> {
    use sys::{FsContext, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY};
    let ovl = FsContext::open(c"overlay")?;
    ovl.set_string(c"lowerdir+", top)?;
    lower(&ovl)?;
    // xino only matters for inode numbers across layers; off spares a dmesg line.
    let _ = ovl.set_string(c"xino", c"off");
    let root = ovl.mount(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)?;
    let exe = sys::openat(Some(root.as_fd()), name, libc::O_PATH | libc::O_NOFOLLOW, 0)?;
    Ok(View {
        exe,
        mounts: vec![root],
    })
}

/// A sealed memfd copy of our binary.
fn memfd_copy(exe: OwnedFd) -> Result<OwnedFd, CloneError> {
    let mut exe = std::fs::File::from(exe);
    let memfd = sys::memfd_create_sealable(c"hoist-runtime").map_err(io("create a memfd"))?;
    let mut out = std::fs::File::from(memfd);
    std::io::copy(&mut exe, &mut out).map_err(io("copy the runtime into a memfd"))?;
    sys::add_seals(out.as_fd(), SEALS).map_err(io("seal the memfd"))?;
    Ok(out.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn own_exe() -> OwnedFd {
        sys::openat(None, Path::new("/proc/self/exe"), libc::O_RDONLY, 0).unwrap()
    }

    fn head(fd: BorrowedFd<'_>) -> Vec<u8> {
        let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
        let mut b = vec![0u8; 4096];
        let n = std::fs::File::open(path).unwrap().read(&mut b).unwrap();
        b.truncate(n);
        b
    }

    /// Opening for writing through /proc/self/fd, as the CVE-2019-5736 exploit does.
    fn open_for_write(fd: BorrowedFd<'_>) -> std::io::Result<std::fs::File> {
        let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
        std::fs::OpenOptions::new().append(true).open(path)
    }

    #[test]
    fn host_binary_is_not_protected() {
        assert!(!is_protected(own_exe().as_fd()));
    }

    #[test]
    fn overlay_view_cannot_be_written() {
        let root = tempfile::tempdir().unwrap();
        let view = match overlay_view(root.path()) {
            Ok(v) => v.exe,
            Err(e) => {
                eprintln!("SKIPPED: no read-only overlay here ({e}; needs root, kernel 6.13+)");
                return;
            }
        };
        assert_eq!(head(view.as_fd()), head(own_exe().as_fd()));
        let e = open_for_write(view.as_fd()).expect_err("the overlay view opened for writing");
        assert_eq!(e.raw_os_error(), Some(libc::EROFS), "{e}");
        let reopened = sys::openat(
            None,
            Path::new(&format!(
                "/proc/self/fd/{}",
                std::os::fd::AsRawFd::as_raw_fd(&view)
            )),
            libc::O_RDONLY,
            0,
        )
        .unwrap();
        assert!(is_protected(reopened.as_fd()));
    }

    /// A state root the overlay cannot take as a layer (an ancestor of the binary's
    /// directory) makes it fall back to an empty tmpfs.
    #[test]
    fn overlay_view_over_tmpfs_cannot_be_written() {
        let view = match overlay_view(Path::new("/")) {
            Ok(v) => v.exe,
            Err(e) => {
                eprintln!("SKIPPED: no read-only overlay here ({e}; needs root, kernel 6.13+)");
                return;
            }
        };
        assert_eq!(head(view.as_fd()), head(own_exe().as_fd()));
        let e = open_for_write(view.as_fd()).expect_err("the overlay view opened for writing");
        assert_eq!(e.raw_os_error(), Some(libc::EROFS), "{e}");
    }

    fn spec_with(namespaces: serde_json::Value, mounts: serde_json::Value) -> Spec {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.2.0",
            "linux": {"namespaces": namespaces},
            "mounts": mounts,
        }))
        .unwrap()
    }

    #[test]
    fn shim_needs_a_new_pid_namespace() {
        let none = serde_json::json!([]);
        let new = serde_json::json!([{"type": "pid"}, {"type": "mount"}]);
        assert!(shim_suffices(&spec_with(new, none.clone())));
        let joined = serde_json::json!([{"type": "pid", "path": "/proc/1/ns/pid"}]);
        assert!(!shim_suffices(&spec_with(joined, none.clone())));
        assert!(!shim_suffices(&spec_with(
            serde_json::json!([{"type": "mount"}]),
            none
        )));
    }

    #[test]
    fn shim_not_with_host_procfs_bound_in() {
        let pid = || serde_json::json!([{"type": "pid"}]);
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let ok = serde_json::json!([
            {"destination": "/data", "type": "bind", "source": d, "options": ["rbind"]},
            {"destination": "/proc", "type": "proc", "source": "proc"},
        ]);
        assert!(shim_suffices(&spec_with(pid(), ok)));
        for (src, opts) in [
            ("/proc", "bind"),
            ("/proc/1", "rbind"),
            ("/", "rbind"),
            ("/nonexistent-source", "bind"),
        ] {
            let m = serde_json::json!([
                {"destination": "/x", "type": "none", "source": src, "options": [opts]}
            ]);
            assert!(
                !shim_suffices(&spec_with(pid(), m)),
                "{opts} of {src} kept the shim"
            );
        }
        // Without recursion, / brings no procfs along.
        let m = serde_json::json!([{"destination": "/x", "source": "/", "options": ["bind"]}]);
        assert!(shim_suffices(&spec_with(pid(), m)));
    }

    #[test]
    fn procfs_found_under_escaped_mount_points() {
        let info = "22 1 0:5 / /srv/my\\040proc rw - proc proc rw\n";
        assert!(procfs_mounted_under(info, Path::new("/srv")));
        assert!(!procfs_mounted_under(info, Path::new("/opt")));
    }

    /// Runs the shim with `argv` through `how`, its stdout and stderr in a pipe.
    #[cfg(hoist_shim)]
    fn run_shim(by_fd: bool, argv: &[&str]) -> (i32, String) {
        use std::ffi::CString;
        use std::io::Read;
        use std::os::fd::AsRawFd;
        let shim = shim().unwrap().expect("the shim is built here");
        let args: Vec<CString> = argv.iter().map(|a| CString::new(*a).unwrap()).collect();
        let env = [CString::new("PATH=/bin:/usr/bin").unwrap()];
        let path = CString::new(format!("/proc/self/fd/{}", shim.as_raw_fd())).unwrap();
        let (r, w) = std::io::pipe().unwrap();
        // SAFETY: the child only dup2s, execs and exits (async-signal-safe calls).
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: as above; the arrays outlive the calls.
            unsafe {
                libc::dup2(w.as_raw_fd(), 1);
                libc::dup2(w.as_raw_fd(), 2);
                let argv = sys::CStrArray::new(&args);
                let envp = sys::CStrArray::new(&env);
                if by_fd {
                    sys::fexecve(shim.as_fd(), &argv, &envp);
                } else {
                    libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr());
                }
                libc::_exit(99);
            }
        }
        drop(w);
        let mut out = String::new();
        std::fs::File::from(OwnedFd::from(r))
            .read_to_string(&mut out)
            .unwrap();
        let (_, status) = sys::waitpid(pid, false).unwrap().unwrap();
        (status.status(), out)
    }

    #[cfg(hoist_shim)]
    #[test]
    fn shim_execs_its_first_argument_with_the_rest() {
        let (code, out) = run_shim(true, &["/bin/sh", "sh", "-c", "echo \"$0|$PATH\"", "zero"]);
        assert_eq!((code, out.as_str()), (0, "zero|/bin:/usr/bin\n"));
        let (code, out) = run_shim(true, &["/nonexistent", "prog"]);
        assert_eq!(code, 126);
        assert_eq!(
            out,
            "hoist-runtime: exec `prog`: No such file or directory (os error 2)\n"
        );
    }

    #[cfg(hoist_shim)]
    #[test]
    fn shim_refuses_to_run_by_path() {
        let (code, out) = run_shim(false, &["/bin/true", "true"]);
        assert_eq!(code, 126);
        assert!(out.contains("runs only as the container's init"), "{out}");
    }

    #[test]
    fn memfd_copy_cannot_be_written() {
        let copy = memfd_copy(own_exe()).unwrap();
        assert_eq!(head(copy.as_fd()), head(own_exe().as_fd()));
        assert!(is_protected(copy.as_fd()));
        use std::io::Write;
        let w = open_for_write(copy.as_fd()).and_then(|mut f| f.write_all(b"x"));
        assert!(w.is_err(), "the sealed memfd took a write");
    }
}
