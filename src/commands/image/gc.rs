//! `hoist image gc`: deletes blobs and unpacked layers no tagged image uses, keeping the
//! images of pods that are not over yet (their layers are overlay lower dirs).

use std::process::ExitCode;

use anyhow::{Context, Result};

use super::super::Ctx;
use crate::image::digest::Digest;
use crate::pod::State;

pub fn run(ctx: &Ctx) -> Result<ExitCode> {
    let store = ctx.store()?;
    let mut keep = Vec::new();
    for pod in ctx.pods()?.all()? {
        if matches!(pod.state, State::Exited | State::Embryo) {
            continue;
        }
        let m = pod
            .manifest()
            .with_context(|| format!("read pod {} (its images are kept)", pod.uuid))?;
        for app in m.apps {
            keep.push(Digest::parse(&app.digest)?);
        }
    }
    let r = store.gc_keeping(&keep).context("collect garbage")?;
    println!(
        "removed {} blobs ({} bytes), {} layers, {} untagged entries, {} temp files",
        r.blobs, r.bytes, r.layers, r.untagged, r.temp_files
    );
    Ok(ExitCode::SUCCESS)
}
