//! `hoist trust --prefix PREFIX KEYFILE`, `hoist trust --list [--format json]`,
//! `hoist trust --remove --prefix PREFIX`: the signature policy's entries, rkt-style
//! (`trust::edit` says what is written where).

use std::process::ExitCode;

use anyhow::{Context, Result};

use super::Ctx;
use crate::cli::{ListFormat, TrustArgs};
use crate::trust::edit::{self, KeyKind};
use crate::trust::Policy;

pub fn run(args: &TrustArgs, ctx: &Ctx) -> Result<ExitCode> {
    let policy_path = Policy::path(ctx.signature_policy.as_deref());
    if args.list {
        let policy = Policy::load_file(&policy_path)?;
        list(&edit::rows(&policy), args.format)?;
        return Ok(ExitCode::SUCCESS);
    }
    let prefix = args.prefix.as_deref().context("--prefix is required")?;
    if args.remove {
        let gone = edit::remove(&policy_path, &args.root, prefix)
            .with_context(|| format!("remove trust for `{prefix}`"))?;
        for g in gone {
            eprintln!("removed key {}", g.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let key = args.key.as_ref().context("a KEYFILE is required")?;
    let bytes = std::fs::read(key).with_context(|| format!("read `{}`", key.display()))?;
    let added = edit::add(
        &policy_path,
        &args.root,
        prefix,
        &key.display().to_string(),
        &bytes,
    )
    .with_context(|| format!("trust `{}` for `{prefix}`", key.display()))?;
    let kind = match added.kind {
        KeyKind::Gpg => "signedBy (GPG)",
        KeyKind::Sigstore => "sigstoreSigned (cosign)",
    };
    println!(
        "{prefix}: {kind} with {} in {}",
        added.key_path.display(),
        policy_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn list(rows: &[edit::Row], format: ListFormat) -> Result<()> {
    if format == ListFormat::Json {
        println!("{}", serde_json::to_string_pretty(rows)?);
        return Ok(());
    }
    let shown = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else {
            s.to_string()
        }
    };
    let table: Vec<[String; 4]> = rows
        .iter()
        .map(|r| {
            [
                shown(&r.transport),
                if r.transport.is_empty() {
                    "(default)".into()
                } else {
                    format!("{:?}", r.scope)
                },
                r.kind.clone(),
                shown(&r.keys.join(",")),
            ]
        })
        .collect();
    let head = ["TRANSPORT", "SCOPE", "TYPE", "KEYS"].map(String::from);
    let mut widths = [0usize; 4];
    for row in std::iter::once(&head).chain(&table) {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.len());
        }
    }
    for row in std::iter::once(&head).chain(&table) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
    Ok(())
}
