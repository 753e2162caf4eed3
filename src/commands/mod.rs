//! One module per command; `main` dispatches here with the global options in `Ctx`.
//! Commands turn library errors into `anyhow` errors with the context of what was
//! being done; `main` prints them as one line.

pub mod fetch;
pub mod image;
pub mod trust;
pub mod version;

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::image::store::Store;
use crate::trust::{registries, Policy, Registries};

/// The global options every command sees.
pub struct Ctx {
    /// `--dir`: the store's root.
    pub dir: PathBuf,
    /// `--signature-policy`: the policy file, when not the default.
    pub signature_policy: Option<PathBuf>,
    /// `--registries.d`: the registries.d directory, when not the default.
    pub registries_d: Option<PathBuf>,
}

impl Ctx {
    /// Opens (making it if need be) the store under `--dir`.
    pub fn store(&self) -> Result<Store> {
        Store::open(&self.dir).with_context(|| format!("open store `{}`", self.dir.display()))
    }

    /// The signature policy and registries.d configuration, read before a fetch.
    pub fn trust(&self) -> Result<(Policy, Registries)> {
        let policy = Policy::load(self.signature_policy.as_deref())?;
        let dir = self
            .registries_d
            .clone()
            .unwrap_or_else(|| registries::DEFAULT_DIR.into());
        let registries = Registries::load(&dir, self.registries_d.is_some())?;
        Ok((policy, registries))
    }
}
