//! `hoist --version`, `hoist version`.

use std::process::ExitCode;

use anyhow::Result;

pub fn run() -> Result<ExitCode> {
    println!("hoist version {}", env!("CARGO_PKG_VERSION"));
    Ok(ExitCode::SUCCESS)
}
