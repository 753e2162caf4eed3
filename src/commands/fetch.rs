//! `hoist fetch [--platform P] [--name NAME] IMAGE`: copy an image into the store,
//! verified, unpacked and tagged; the manifest digest is the last line on stdout.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::Ctx;
use crate::cli::FetchArgs;
use crate::image::reference::ImageRef;
use crate::image::source::{self, Platform};
use crate::image::store::Fetched;

pub fn run(args: &FetchArgs, ctx: &Ctx) -> Result<ExitCode> {
    let platform = match &args.platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::host(),
    };
    let f = fetch_image(ctx, &args.image, &platform, args.name.as_deref())?;
    if std::io::stderr().is_terminal() {
        eprintln!(
            "{}: {} blobs copied ({} bytes), {} already present",
            f.name, f.copied, f.copied_bytes, f.present
        );
    }
    println!("{}", f.digest);
    Ok(ExitCode::SUCCESS)
}

/// Copies `image` (a transport reference or a registry name) into the store; `hoist
/// run` uses it for images it has to fetch.
pub fn fetch_image(
    ctx: &Ctx,
    image: &str,
    platform: &Platform,
    name: Option<&str>,
) -> Result<Fetched> {
    let r = ImageRef::parse(image)?;
    let src = source::open_with(&r, &ctx.registry).with_context(|| format!("fetch `{r}`"))?;
    let store = ctx.store()?;
    let progress = super::progress::for_stderr();
    store
        .fetch_with(src.as_ref(), platform, name, progress.as_ref())
        .with_context(|| format!("fetch `{r}`"))
}
