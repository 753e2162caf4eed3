//! `hoist image gc`: deletes blobs and unpacked layers no tagged image uses.

use std::process::ExitCode;

use anyhow::{Context, Result};

use super::super::Ctx;

pub fn run(ctx: &Ctx) -> Result<ExitCode> {
    let store = ctx.store()?;
    let r = store.gc().context("collect garbage")?;
    println!(
        "removed {} blobs ({} bytes), {} layers, {} untagged entries, {} temp files",
        r.blobs, r.bytes, r.layers, r.untagged, r.temp_files
    );
    Ok(ExitCode::SUCCESS)
}
