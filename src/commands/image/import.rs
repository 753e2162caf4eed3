//! `hoist image import DIR|TARBALL NAME`: a root filesystem as a one-layer image; prints
//! the manifest digest.

use std::process::ExitCode;

use anyhow::{Context, Result};

use super::super::Ctx;
use crate::cli::ImportArgs;

pub fn run(args: &ImportArgs, ctx: &Ctx) -> Result<ExitCode> {
    let store = ctx.store()?;
    let f = store
        .import(&args.source, &args.name)
        .with_context(|| format!("import `{}`", args.source.display()))?;
    println!("{}", f.digest);
    Ok(ExitCode::SUCCESS)
}
