//! `list`: every container under the root, as a table or runc's JSON array.

use anyhow::{Context, Result};

use super::Ctx;
use crate::cli::{ListArgs, ListFormat};
use crate::container::Container;

pub fn run(args: &ListArgs, ctx: &Ctx) -> Result<i32> {
    let mut items = Vec::new();
    match std::fs::read_dir(&ctx.root) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("read `{}`", ctx.root.display())),
        Ok(rd) => {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                // A container being created or deleted right now is skipped.
                if let Ok(c) = Container::load(&ctx.root, &name, false) {
                    items.push(c.state.oci_json(c.status()));
                }
            }
        }
    }
    items.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    if args.quiet {
        for i in &items {
            println!("{}", i["id"].as_str().unwrap_or_default());
        }
    } else if args.format == ListFormat::Json {
        println!("{}", serde_json::to_string(&items)?);
    } else {
        print!("{}", table(&items));
    }
    Ok(0)
}

fn table(items: &[serde_json::Value]) -> String {
    let cols = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"];
    let keys = ["id", "pid", "status", "bundle", "created", "owner"];
    let mut rows: Vec<Vec<String>> = vec![cols.iter().map(|c| c.to_string()).collect()];
    for i in items {
        rows.push(
            keys.iter()
                .map(|k| match &i[*k] {
                    serde_json::Value::String(s) => s.clone(),
                    v => v.to_string(),
                })
                .collect(),
        );
    }
    let widths: Vec<usize> = (0..cols.len())
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, v)| format!("{v:<w$}", w = widths[c]))
            .collect();
        out.push_str(line.join("   ").trim_end());
        out.push('\n');
    }
    out
}
