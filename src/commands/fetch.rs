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
use crate::image::store::Candidate;
use crate::trust::store::NoSignatures;
use crate::trust::Subject;

pub fn run(args: &FetchArgs, ctx: &Ctx) -> Result<ExitCode> {
    let r = ImageRef::parse(&args.image)?;
    let platform = match &args.platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::host(),
    };
    let (policy, registries) = ctx.trust()?;
    let src = source::open(&r).with_context(|| format!("fetch `{r}`"))?;
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
    let f = store
        .fetch(src.as_ref(), &platform, args.name.as_deref(), &admit)
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
