//! An app's root filesystem: an overlayfs over the store's unpacked layers (read-only,
//! shared by every pod) with a per-app upper and work dir on disk (`<name>.upper`,
//! `<name>.work` in the pod directory),
//! mounted on the bundle's `rootfs` in the pod's run-time tmpfs; or, with
//! `--no-overlay`, a plain copy of the flattened image (`image::render`) on disk, for
//! file systems overlayfs cannot serve.

use std::path::{Path, PathBuf};

use super::{io_err, Pod, PodError};
use crate::image::render;
use crate::sys;

/// The most bytes of mount options the kernel takes in one page.
const MAX_OPTIONS: usize = 4000;

/// overlayfs options for `layers` (base first) over `upper`/`work`. `volatile`: the
/// upper dir is never synced (an unmount no longer waits for the upper file system to
/// be written back); a pod's upper dir is never mounted again after the pod, which is
/// the one thing a volatile upper dir cannot do after a crash.
pub fn overlay_options(layers: &[PathBuf], upper: &Path, work: &Path) -> Result<String, PodError> {
    let mut lower = Vec::with_capacity(layers.len());
    for l in layers.iter().rev() {
        let s = l.to_str().filter(|s| !s.contains([':', ',']));
        let Some(s) = s else {
            return Err(PodError::Io {
                what: format!("use layer `{}` as an overlay lower dir", l.display()),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "the store path holds `:` or `,` (choose another --dir)",
                ),
            });
        };
        lower.push(s.to_owned());
    }
    let options = format!(
        "lowerdir={},upperdir={},workdir={},volatile",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    if options.len() > MAX_OPTIONS {
        return Err(PodError::Io {
            what: format!("mount an overlay of {} layers", layers.len()),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "too many layers for one overlay mount (use --no-overlay)",
            ),
        });
    }
    Ok(options)
}

/// A mount point the stage1 will bind something onto: a path in the rootfs (relative,
/// normal components only) and whether it is a directory.
pub type Point<'a> = (&'a str, bool);

/// What the image's layers hold at a path.
enum Entry {
    Absent,
    Dir(std::fs::Metadata),
    /// A file, a symlink, or a path that crosses one in some layer.
    Other,
}

/// What the image's layers (base first) hold at `rel`, from the topmost layer that has
/// it, looked up one component at a time so that no symlink in a layer is followed (a
/// path crossing anything but a directory is `Other`). A whiteout (0:0 character
/// device) on the way makes it absent. Opaque directories are not followed: an entry
/// they hide may be reported, which only makes the caller leave the point to the
/// stage1.
fn image_entry(layers: &[PathBuf], rel: &Path) -> Entry {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let parts: Vec<_> = rel.components().collect();
    for l in layers.iter().rev() {
        let mut at = l.clone();
        for (i, part) in parts.iter().enumerate() {
            at.push(part);
            let Ok(m) = std::fs::symlink_metadata(&at) else {
                break;
            };
            if m.file_type().is_char_device() && m.rdev() == 0 {
                return Entry::Absent;
            }
            if i + 1 == parts.len() {
                return if m.is_dir() {
                    Entry::Dir(m)
                } else {
                    Entry::Other
                };
            }
            if !m.is_dir() {
                return Entry::Other;
            }
        }
    }
    Entry::Absent
}

/// Makes the mount points the image lacks in `dir` (on the pod's tmpfs), to be the
/// overlay's topmost lower layer: the stage1 then finds them in place instead of
/// creating them in the upper dir, where each costs a copy-up of its parent and a
/// file created on disk (three /etc files in every pod). A directory made here stands
/// in for the image's (an overlay directory takes its owner and mode from the topmost
/// layer holding it), so it copies those. A point whose path the image already holds,
/// or crosses anything but directories, is left to the stage1 as before (a symlink
/// there must be resolved in the rootfs). Returns whether anything was made.
fn mount_points(dir: &Path, layers: &[PathBuf], points: &[Point<'_>]) -> std::io::Result<bool> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let mut made = false;
    'points: for (rel, is_dir) in points {
        let rel = Path::new(rel);
        if !rel
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
            || !matches!(image_entry(layers, rel), Entry::Absent)
        {
            continue;
        }
        let mut parents: Vec<(&Path, Option<std::fs::Metadata>)> = Vec::new();
        for parent in rel
            .ancestors()
            .skip(1)
            .filter(|p| !p.as_os_str().is_empty())
        {
            match image_entry(layers, parent) {
                Entry::Absent => parents.push((parent, None)),
                Entry::Dir(m) => parents.push((parent, Some(m))),
                Entry::Other => continue 'points,
            }
        }
        for (parent, m) in parents.iter().rev() {
            let p = dir.join(parent);
            if p.exists() {
                continue;
            }
            std::fs::DirBuilder::new().mode(0o755).create(&p)?;
            if let Some(m) = m {
                std::os::unix::fs::lchown(&p, Some(m.uid()), Some(m.gid()))?;
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
            }
        }
        let p = dir.join(rel);
        if *is_dir {
            std::fs::DirBuilder::new().mode(0o755).create(&p)?;
        } else {
            std::fs::File::create(&p)?;
        }
        made = true;
    }
    Ok(made)
}

/// Makes the rootfs of the pod's `app` from `layers` and returns where it is: an
/// overlay mounted on the bundle's `rootfs` with its upper and work dirs in the pod
/// directory, `<app>.upper` and `<app>.work` (and the mount points `points` the image
/// lacks in a layer of their own, the bundle's `points`), or, when `copy` is set, a
/// copy in `<app>.rootfs`.
pub fn mount(
    pod: &Pod,
    app: &str,
    layers: &[PathBuf],
    copy: bool,
    points: &[Point<'_>],
) -> Result<PathBuf, PodError> {
    let bundle = pod.bundle_dir(app);
    if copy {
        let rootfs = pod.app_path(app, "rootfs");
        render::render(layers, &rootfs).map_err(|e| PodError::Io {
            what: format!("copy the image into `{}`", rootfs.display()),
            source: std::io::Error::other(e.to_string()),
        })?;
        return Ok(rootfs);
    }
    let rootfs = bundle.join("rootfs");
    let (upper, work, empty) = (
        pod.app_path(app, "upper"),
        pod.app_path(app, "work"),
        pod.app_path(app, "empty"),
    );
    for d in [&rootfs, &upper, &work] {
        std::fs::create_dir_all(d).map_err(io_err(format!("create `{}`", d.display())))?;
    }
    let mut lowers = layers.to_vec();
    if lowers.is_empty() {
        std::fs::create_dir_all(&empty).map_err(io_err(format!("create `{}`", empty.display())))?;
        lowers.push(empty);
    }
    let made = bundle.join("points");
    std::fs::create_dir_all(&made).map_err(io_err(format!("create `{}`", made.display())))?;
    if mount_points(&made, layers, points)
        .map_err(io_err(format!("make mount points in `{}`", made.display())))?
    {
        lowers.push(made);
    }
    let options = overlay_options(&lowers, &upper, &work)?;
    sys::mount(
        Some("overlay".as_ref()),
        &rootfs,
        Some("overlay"),
        0,
        Some(&options),
    )
    .map_err(io_err(format!(
        "mount the overlay on `{}`",
        rootfs.display()
    )))?;
    Ok(rootfs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn mount_points_the_image_lacks() {
        let d = tempfile::tempdir().unwrap();
        let (base, top, out) = (d.path().join("l0"), d.path().join("l1"), d.path().join("p"));
        // base: /etc (0750, 5:6) with hosts, /lnk a symlink, /gone; top: /gone whited out.
        std::fs::create_dir_all(base.join("etc")).unwrap();
        std::fs::write(base.join("etc/hosts"), "x").unwrap();
        std::fs::set_permissions(base.join("etc"), std::fs::Permissions::from_mode(0o750)).unwrap();
        std::os::unix::fs::lchown(base.join("etc"), Some(5), Some(6)).unwrap();
        std::os::unix::fs::symlink("/etc", base.join("lnk")).unwrap();
        std::fs::create_dir_all(base.join("gone")).unwrap();
        std::fs::create_dir_all(&top).unwrap();
        let wh =
            std::ffi::CString::new(top.join("gone").into_os_string().into_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated path; mknod of a 0:0 character device (a whiteout).
        let r = unsafe { libc::mknod(wh.as_ptr(), libc::S_IFCHR | 0o600, 0) };
        assert_eq!(r, 0);
        std::fs::create_dir_all(&out).unwrap();
        let layers = [base, top];
        let points = [
            ("etc/hosts", false),
            ("etc/resolv.conf", false),
            ("lnk/x", false),
            ("lnk/hostname", false),
            ("gone/v", true),
            ("data/a/b", true),
            ("../escape", true),
        ];
        assert!(mount_points(&out, &layers, &points).unwrap());
        let etc = std::fs::metadata(out.join("etc")).unwrap();
        assert_eq!((etc.mode() & 0o7777, etc.uid(), etc.gid()), (0o750, 5, 6));
        assert!(out.join("etc/resolv.conf").is_file());
        assert!(!out.join("etc/hosts").exists(), "the image has it");
        assert!(
            !out.join("lnk").exists(),
            "a symlink in the way is the stage1's"
        );
        assert!(
            out.join("gone/v").is_dir(),
            "a whited-out directory is absent"
        );
        assert_eq!(
            std::fs::metadata(out.join("gone")).unwrap().mode() & 0o7777,
            0o755
        );
        assert!(out.join("data/a/b").is_dir());
        assert!(!d.path().join("escape").exists());
        // Nothing to make: no layer.
        let none = d.path().join("none");
        std::fs::create_dir_all(&none).unwrap();
        assert!(!mount_points(&none, &layers, &[("etc/hosts", false)]).unwrap());
    }

    #[test]
    fn options() {
        let o = overlay_options(
            &["/s/l/a".into(), "/s/l/b".into()],
            Path::new("/p/u"),
            Path::new("/p/w"),
        )
        .unwrap();
        assert_eq!(
            o,
            "lowerdir=/s/l/b:/s/l/a,upperdir=/p/u,workdir=/p/w,volatile"
        );
        assert!(overlay_options(&["/a:b".into()], Path::new("/u"), Path::new("/w")).is_err());
        let many: Vec<PathBuf> = (0..200)
            .map(|i| format!("/var/lib/hoist/layers/{i:064}").into())
            .collect();
        assert!(overlay_options(&many, Path::new("/u"), Path::new("/w")).is_err());
    }
}
