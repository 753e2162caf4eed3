//! `hoist image render IMAGE DIR`: the image's layers flattened, in order, whiteouts
//! applied, into DIR (made if missing; it must be empty), by `crate::image::render`.
//! Layers whose directory is gone are unpacked again first.

use std::process::ExitCode;

use anyhow::{Context, Result};

use super::super::Ctx;
use crate::cli::RenderArgs;
use crate::image::render;

pub fn run(args: &RenderArgs, ctx: &Ctx) -> Result<ExitCode> {
    let store = ctx.store()?;
    let image = store
        .image(&args.image)
        .with_context(|| format!("render `{}`", args.image))?;
    // The layers must stay while they are read: gc waits for this lock.
    let _lock = store.lock_shared()?;
    let layers = store
        .layer_dirs(&image)
        .with_context(|| format!("unpack the layers of `{}`", image.name))?;
    render::render(&layers, &args.dest).with_context(|| format!("render `{}`", image.name))?;
    Ok(ExitCode::SUCCESS)
}
