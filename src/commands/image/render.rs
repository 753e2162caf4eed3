//! `hoist image render IMAGE DIR`: the image's layers flattened, in order, whiteouts
//! applied, into DIR (made if missing; it must be empty), by `crate::image::render`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use super::super::Ctx;
use crate::cli::RenderArgs;

pub fn run(args: &RenderArgs, ctx: &Ctx) -> Result<ExitCode> {
    let store = ctx.store()?;
    let image = store
        .image(&args.image)
        .with_context(|| format!("render `{}`", args.image))?;
    match std::fs::read_dir(&args.dest) {
        Ok(mut rd) => {
            if rd.next().is_some() {
                bail!(
                    "render into `{}`: the directory is not empty",
                    args.dest.display()
                );
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir(&args.dest)
                .with_context(|| format!("create `{}`", args.dest.display()))?;
        }
        Err(e) => {
            return Err(e).with_context(|| format!("open `{}`", args.dest.display()));
        }
    }
    // The layers must stay while they are read: gc waits for this lock.
    let _lock = store.lock_shared()?;
    let layers = store
        .layer_dirs(&image)
        .with_context(|| format!("unpack the layers of `{}`", image.name))?;
    render(&layers, &args.dest)
        .with_context(|| format!("render `{}` into `{}`", image.name, args.dest.display()))?;
    Ok(ExitCode::SUCCESS)
}

/// The renderer's call, as `crate::image::render` defines it.
fn render(layer_dirs: &[PathBuf], dest: &Path) -> Result<()> {
    interim::render(layer_dirs, dest)?;
    Ok(())
}

/// Stands in for `crate::image::render::render` until that lands (it is being written
/// beside this): layers copied in order, OCI (`.wh.NAME`) and overlay (0:0 character
/// device) whiteouts applied; no xattrs, no opaque-dir xattrs, no device nodes. It goes
/// away with the swap above.
mod interim {
    use std::io;
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    use std::path::{Path, PathBuf};

    pub fn render(layer_dirs: &[PathBuf], dest: &Path) -> io::Result<()> {
        for l in layer_dirs {
            apply(l, dest)?;
        }
        Ok(())
    }

    fn remove(p: &Path) -> io::Result<()> {
        match std::fs::symlink_metadata(p) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
            Ok(_) => std::fs::remove_file(p),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn apply(src: &Path, dst: &Path) -> io::Result<()> {
        let mut names: Vec<_> = std::fs::read_dir(src)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        names.sort();
        if names.iter().any(|n| n == ".wh..wh..opq") {
            for e in std::fs::read_dir(dst)? {
                remove(&e?.path())?;
            }
        }
        for n in names {
            let s = src.join(&n);
            let text = n.to_string_lossy();
            if let Some(hidden) = text.strip_prefix(".wh.") {
                if hidden != ".wh..opq" {
                    remove(&dst.join(hidden))?;
                }
                continue;
            }
            let d = dst.join(&n);
            let m = std::fs::symlink_metadata(&s)?;
            let ft = m.file_type();
            if ft.is_char_device() && m.rdev() == 0 {
                remove(&d)?;
                continue;
            }
            if ft.is_dir() {
                if !std::fs::symlink_metadata(&d).is_ok_and(|x| x.is_dir()) {
                    remove(&d)?;
                    std::fs::create_dir(&d)?;
                }
                apply(&s, &d)?;
            } else if ft.is_symlink() {
                remove(&d)?;
                std::os::unix::fs::symlink(std::fs::read_link(&s)?, &d)?;
            } else if ft.is_file() {
                remove(&d)?;
                std::fs::copy(&s, &d)?;
            } else {
                continue;
            }
            std::os::unix::fs::lchown(&d, Some(m.uid()), Some(m.gid()))?;
            if !ft.is_symlink() {
                std::fs::set_permissions(&d, std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
            }
        }
        Ok(())
    }
}
