//! `hoist image inspect IMAGE`: the image's name, digest, manifest and config as one
//! JSON document (the manifest and config exactly as stored).

use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::super::Ctx;
use crate::cli::ImageArg;

pub fn run(args: &ImageArg, ctx: &Ctx) -> Result<ExitCode> {
    let store = ctx.store()?;
    let image = store
        .image(&args.image)
        .with_context(|| format!("inspect `{}`", args.image))?;
    let manifest: Value = serde_json::from_slice(&image.manifest_bytes)?;
    let config: Value = serde_json::from_slice(&image.config_bytes)?;
    let out = json!({
        "name": image.name,
        "digest": image.digest.to_string(),
        "mediaType": image.descriptor.media_type().to_string(),
        "manifest": manifest,
        "config": config,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(ExitCode::SUCCESS)
}
