//! `hoist image rm IMAGE…`: removes tags, all or none; `hoist image gc` frees the
//! blobs and layers no tag uses any more.

use std::process::ExitCode;

use anyhow::{Context, Result};

use super::super::Ctx;
use crate::cli::RmArgs;

pub fn run(args: &RmArgs, ctx: &Ctx) -> Result<ExitCode> {
    let store = ctx.store()?;
    let removed = store
        .remove(&args.images)
        .with_context(|| format!("remove {}", args.images.join(" ")))?;
    for name in removed {
        println!("{name}");
    }
    Ok(ExitCode::SUCCESS)
}
