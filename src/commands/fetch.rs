//! `hoist fetch [--platform P] [--name NAME] IMAGE`: copy an image into the store,
//! verified, unpacked and tagged; the manifest digest is the last line on stdout.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::Ctx;
use crate::cli::FetchArgs;
use crate::image::reference::ImageRef;
use crate::image::source::{self, Platform};

pub fn run(args: &FetchArgs, ctx: &Ctx) -> Result<ExitCode> {
    let r = ImageRef::parse(&args.image)?;
    let platform = match &args.platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::host(),
    };
    let src = source::open_with(&r, &ctx.registry).with_context(|| format!("fetch `{r}`"))?;
    let store = ctx.store()?;
    let progress = super::progress::for_stderr();
    let f = store
        .fetch_with(
            src.as_ref(),
            &platform,
            args.name.as_deref(),
            progress.as_ref(),
        )
        .with_context(|| format!("fetch `{r}`"))?;
    if std::io::stderr().is_terminal() {
        eprintln!(
            "{}: {} blobs copied ({} bytes), {} already present",
            f.name, f.copied, f.copied_bytes, f.present
        );
    }
    println!("{}", f.digest);
    Ok(ExitCode::SUCCESS)
}
