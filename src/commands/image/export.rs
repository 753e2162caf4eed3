//! `hoist image export IMAGE oci-archive:FILE[:TAG]|docker-archive:FILE[:REPO:TAG]`.

use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use super::super::Ctx;
use crate::cli::ExportArgs;
use crate::image::reference::ImageRef;
use crate::image::store::ExportFormat;

pub fn run(args: &ExportArgs, ctx: &Ctx) -> Result<ExitCode> {
    let (file, format) = match ImageRef::parse(&args.dest)? {
        ImageRef::OciArchive { file, tag } => (file, ExportFormat::OciArchive { tag }),
        ImageRef::DockerArchive { file, name } => (file, ExportFormat::DockerArchive { name }),
        other => {
            bail!("export to `{other}`: hoist exports to oci-archive:FILE or docker-archive:FILE")
        }
    };
    let store = ctx.store()?;
    let image = store
        .image(&args.image)
        .with_context(|| format!("export `{}`", args.image))?;
    store
        .export(&image, &file, &format)
        .with_context(|| format!("export `{}` to `{}`", image.name, args.dest))?;
    Ok(ExitCode::SUCCESS)
}
