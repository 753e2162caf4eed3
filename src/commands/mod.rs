//! One module per command; `main` dispatches here with the global options in `Ctx`.
//! Commands turn library errors into `anyhow` errors with the context of what was
//! being done; `main` prints them as one line.

pub mod fetch;
pub mod image;
pub mod login;
pub mod progress;
pub mod version;

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::image::store::Store;

/// The global options every command sees.
pub struct Ctx {
    /// `--dir`: the store's root.
    pub dir: PathBuf,
    /// The global registry flags.
    pub registry: crate::image::registry::Options,
}

impl Ctx {
    /// Opens (making it if need be) the store under `--dir`.
    pub fn store(&self) -> Result<Store> {
        Store::open(&self.dir).with_context(|| format!("open store `{}`", self.dir.display()))
    }
}
