//! `hoist image list [--format json]`: the tagged images, as a table or a JSON array.

use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::super::Ctx;
use crate::cli::{ListArgs, ListFormat};

pub fn run(args: &ListArgs, ctx: &Ctx) -> Result<ExitCode> {
    let store = ctx.store()?;
    let mut rows = Vec::new();
    for entry in store.list().context("list images")? {
        // A tag whose blobs are damaged or gone is still listed, without details.
        let image = store.load(&entry).ok();
        let size: u64 = image.as_ref().map_or(0, |i| {
            i.manifest.config().size() + i.manifest.layers().iter().map(|l| l.size()).sum::<u64>()
        });
        rows.push(json!({
            "name": entry.name,
            "digest": entry.descriptor.digest().to_string(),
            "mediaType": entry.descriptor.media_type().to_string(),
            "size": size,
            "created": image.as_ref().and_then(|i| i.config.created.clone()),
            "platform": image.as_ref().and_then(|i| i.config.platform()).map(|p| {
                crate::image::source::platform::describe(&p)
            }),
            "layers": image.as_ref().map(|i| i.manifest.layers().len()),
        }));
    }
    match args.format {
        ListFormat::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        ListFormat::Table => print!("{}", table(&rows)),
    }
    Ok(ExitCode::SUCCESS)
}

fn table(rows: &[Value]) -> String {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        v => v.to_string(),
    };
    let mut lines = vec![vec![
        "NAME".to_string(),
        "DIGEST".into(),
        "PLATFORM".into(),
        "SIZE".into(),
        "CREATED".into(),
    ]];
    for r in rows {
        let digest = text(&r["digest"]);
        let short = digest.strip_prefix("sha256:").unwrap_or(&digest);
        lines.push(vec![
            text(&r["name"]),
            short.chars().take(12).collect(),
            text(&r["platform"]),
            human(r["size"].as_u64().unwrap_or(0)),
            text(&r["created"]),
        ]);
    }
    super::super::columns(&lines)
}

fn human(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "kB", "MB", "GB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human(12), "12 B");
        assert_eq!(human(1_500), "1.5 kB");
        assert_eq!(human(2_000_000), "2.0 MB");
    }

    #[test]
    fn table_aligns() {
        let t = table(&[json!({"name": "a", "digest": "sha256:0123456789abcdef", "size": 1})]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("NAME   DIGEST"), "{t}");
        assert!(lines[1].starts_with("a      0123456789ab"), "{t}");
    }
}
