//! `state`: runc's JSON for one container.

use anyhow::Result;

use super::Ctx;
use crate::container::Container;

pub fn run(id: &str, ctx: &Ctx) -> Result<i32> {
    let c = Container::load(&ctx.root, id, false)?;
    let v = c.state.oci_json(c.status());
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(0)
}
