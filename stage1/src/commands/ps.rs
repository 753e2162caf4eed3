//! `ps`: the container's processes; `--format json` is the bare pid array that
//! containerd's shim reads.

use anyhow::Result;

use super::Ctx;
use crate::cgroups;
use crate::cli::{ListFormat, PsArgs};
use crate::container::Container;

pub fn run(args: &PsArgs, ctx: &Ctx) -> Result<i32> {
    let c = Container::load(&ctx.root, &args.id, false)?;
    let mut pids = cgroups::pids(&c.state.cgroup_paths);
    // Without a cgroup of its own (--cgroup-manager disabled) only the init is known.
    if c.state.cgroup_paths.is_empty() && c.status() != crate::container::Status::Stopped {
        pids.push(c.state.pid);
    }
    if args.format == ListFormat::Json {
        println!("{}", serde_json::to_string(&pids)?);
        return Ok(0);
    }
    println!("{:>8}  CMD", "PID");
    for pid in pids {
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd: Vec<String> = cmd
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        println!("{pid:>8}  {}", cmd.join(" "));
    }
    Ok(0)
}
