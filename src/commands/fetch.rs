//! `hoist fetch [--platform P] [--name NAME] IMAGE`: copy an image into the store,
//! admitted by the signature policy, verified, unpacked and tagged; the manifest digest
//! is the last line on stdout.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::Ctx;
use crate::cli::FetchArgs;
use crate::image::reference::{DockerRef, ImageRef};
use crate::image::source::{self, Platform};
use crate::image::store::{Candidate, Fetched};
use crate::trust::store::NoSignatures;
use crate::trust::Subject;

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
    let (policy, registries) = ctx.trust()?;
    let src = source::open_with(&r, &ctx.registry).with_context(|| format!("fetch `{r}`"))?;
    let store = ctx.store()?;
    // The image is known by the name it gets in the store: that is what a signature
    // must vouch for (trust::scope).
    let admit = |c: &Candidate<'_>| {
        let identity = DockerRef::parse(c.name).ok();
        let subject = Subject::new(&r, identity, c.image.digest.clone())
            .with_parents(c.image.parents.clone());
        let signatures = c.source.signatures().unwrap_or(&NoSignatures);
        policy.check(&subject, &registries, signatures)
    };
    let progress = super::progress::for_stderr();
    store
        .fetch_with(src.as_ref(), platform, name, &admit, progress.as_ref())
        .with_context(|| format!("fetch `{r}`"))
}
