//! One module per command; `main` dispatches here with the global options in `Ctx`.
//! Commands turn library errors into `anyhow` errors with the context of what was
//! being done; `main` prints them as one line.

pub mod fetch;
pub mod image;
pub mod login;
pub mod pod;
pub mod progress;
pub mod trust;
pub mod version;

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::image::store::Store;
use crate::pod::Pods;
use crate::trust::{registries, Policy, Registries};

/// The global options every command sees.
pub struct Ctx {
    /// `--dir`: the store's root.
    pub dir: PathBuf,
    /// `--net-dir`: CNI network configs.
    pub net_dir: PathBuf,
    /// The global registry flags.
    pub registry: crate::image::registry::Options,
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
    /// Opens (making them if need be) the pod directories under `--dir`.
    pub fn pods(&self) -> Result<Pods> {
        Pods::open(&self.dir).with_context(|| format!("open pods under `{}`", self.dir.display()))
    }
}

/// Rows as left-aligned columns three spaces apart, the last column unpadded.
pub fn columns(rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if widths.len() <= i {
                widths.push(0);
            }
            widths[i] = widths[i].max(c.len());
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, (c, w)) in r.iter().zip(&widths).enumerate() {
            if i + 1 == r.len() {
                line.push_str(c);
            } else {
                line.push_str(&format!("{c:<w$}   "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
