//! `--user USER[:GROUP]` and the image's `User` turned into numbers: names are looked up
//! in the app's own `/etc/passwd` and `/etc/group`, opened under the app's rootfs with
//! `RESOLVE_IN_ROOT` (DESIGN.md rule 1: an image's symlinked /etc cannot point at the
//! host's files). The user's supplementary groups come from `/etc/group`, as Docker
//! gives them.

use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;

use super::PodError;
use crate::sys;

/// A resolved user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// Reads `/etc/<name>` under `rootfs`; a missing file is empty.
fn read_in_root(rootfs: &Path, name: &str) -> Result<String, PodError> {
    let io = |source| PodError::Io {
        what: format!("read /etc/{name} in `{}`", rootfs.display()),
        source,
    };
    let root = std::fs::File::open(rootfs).map_err(io)?;
    let fd = match sys::openat2(
        root.as_fd(),
        &Path::new("etc").join(name),
        libc::O_RDONLY,
        0,
        sys::RESOLVE_IN_ROOT | sys::RESOLVE_NO_MAGICLINKS,
    ) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(String::new()),
        Err(e) => return Err(io(e)),
    };
    let mut text = String::new();
    std::fs::File::from(fd)
        .take(4 << 20)
        .read_to_string(&mut text)
        .map_err(io)?;
    Ok(text)
}

/// Resolves `spec` (`user`, `uid`, `user:group`, `uid:gid`) in `rootfs`.
pub fn resolve(rootfs: &Path, spec: &str) -> Result<User, PodError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let unknown = |what: &str| PodError::UnknownUser {
        user: spec.to_owned(),
        reason: what.to_owned(),
    };
    let passwd = read_in_root(rootfs, "passwd")?;
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && (f[0] == user || (user.parse::<u32>().is_ok() && f[2] == user)));
    let (uid, mut gid, name) = match (user.parse::<u32>(), &entry) {
        (Ok(uid), Some(f)) => (uid, f[3].parse().unwrap_or(0), Some(f[0].to_owned())),
        (Ok(uid), None) => (uid, 0, None),
        (Err(_), Some(f)) => (
            f[2].parse().map_err(|_| unknown("bad /etc/passwd entry"))?,
            f[3].parse().map_err(|_| unknown("bad /etc/passwd entry"))?,
            Some(f[0].to_owned()),
        ),
        (Err(_), None) => return Err(unknown("no such user in the image's /etc/passwd")),
    };
    let groups = read_in_root(rootfs, "group")?;
    let groups: Vec<Vec<&str>> = groups
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 3)
        .collect();
    if let Some(g) = group {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => groups
                .iter()
                .find(|f| f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| unknown("no such group in the image's /etc/group"))?,
        };
    }
    let mut additional_gids = Vec::new();
    if let Some(name) = &name {
        for f in &groups {
            let members = f.get(3).copied().unwrap_or_default();
            if members.split(',').any(|m| m == name) {
                if let Ok(n) = f[2].parse::<u32>() {
                    if n != gid && !additional_gids.contains(&n) {
                        additional_gids.push(n);
                    }
                }
            }
        }
    }
    Ok(User {
        uid,
        gid,
        additional_gids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nweb:x:1000:1000::/home/web:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nweb:x:1000:\nwheel:x:10:web,root\naudio:x:29:web\n",
        )
        .unwrap();
        d
    }

    #[test]
    fn names_and_numbers() {
        let d = root();
        let u = resolve(d.path(), "web").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        assert_eq!(u.additional_gids, [10, 29]);
        let u = resolve(d.path(), "1000:wheel").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 10));
        assert_eq!(resolve(d.path(), "4242:7").unwrap().gid, 7);
        assert_eq!(resolve(d.path(), "0").unwrap().additional_gids, [10]);
        assert!(resolve(d.path(), "nobody").is_err());
        assert!(resolve(d.path(), "web:nogroup").is_err());
    }

    #[test]
    fn etc_symlink_stays_inside() {
        let d = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc", d.path().join("etc")).unwrap();
        // /etc → /etc resolves inside the root, which has no passwd: "root" is unknown
        // rather than found in the host's file.
        assert!(resolve(d.path(), "root").is_err());
    }
}
