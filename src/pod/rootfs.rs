//! An app's root filesystem: an overlayfs over the store's unpacked layers (read-only,
//! shared by every pod) with a per-app upper and work dir on disk (`apps/<name>/`),
//! mounted on the bundle's `rootfs` in the pod's run-time tmpfs; or, with
//! `--no-overlay`, a plain copy of the flattened image (`image::render`) on disk, for
//! file systems overlayfs cannot serve.

use std::path::{Path, PathBuf};

use super::{io_err, PodError};
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

/// Makes the app's rootfs from `layers` and returns where it is: an overlay mounted on
/// `bundle/rootfs` with its upper and work dirs in `app_dir`, or, when `copy` is set,
/// a copy in `app_dir/rootfs`.
pub fn mount(
    bundle: &Path,
    app_dir: &Path,
    layers: &[PathBuf],
    copy: bool,
) -> Result<PathBuf, PodError> {
    if copy {
        let rootfs = app_dir.join("rootfs");
        render::render(layers, &rootfs).map_err(|e| PodError::Io {
            what: format!("copy the image into `{}`", rootfs.display()),
            source: std::io::Error::other(e.to_string()),
        })?;
        return Ok(rootfs);
    }
    let rootfs = bundle.join("rootfs");
    let (upper, work, empty) = (
        app_dir.join("upper"),
        app_dir.join("work"),
        app_dir.join("empty"),
    );
    for d in [&rootfs, &upper, &work] {
        std::fs::create_dir_all(d).map_err(io_err(format!("create `{}`", d.display())))?;
    }
    let mut lowers = layers.to_vec();
    if lowers.is_empty() {
        std::fs::create_dir_all(&empty).map_err(io_err(format!("create `{}`", empty.display())))?;
        lowers.push(empty);
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
