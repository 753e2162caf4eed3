//! `hoist list`, `hoist status [--wait]`, `hoist cat-manifest`, `hoist logs [--follow]`:
//! read-only views of pod directories.

use std::io::{Read, Seek, SeekFrom, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::super::{columns, Ctx};
use crate::cli::pod::{LogsArgs, PodArg, PodListArgs, StatusArgs};
use crate::cli::ListFormat;
use crate::pod::status::{self, PodStatus};
use crate::pod::{Pods, State};

pub fn list(args: &PodListArgs, ctx: &Ctx) -> Result<ExitCode> {
    let pods = ctx.pods()?;
    let all: Vec<PodStatus> = pods.all()?.iter().map(status::status).collect();
    match args.format {
        ListFormat::Json => println!("{}", serde_json::to_string_pretty(&all)?),
        ListFormat::Table => {
            let mut rows = vec![vec![
                "UUID".to_owned(),
                "NAME".into(),
                "STATE".into(),
                "APPS".into(),
                "IPS".into(),
                "CREATED".into(),
            ]];
            for s in &all {
                let apps: Vec<String> = s.apps.iter().map(|a| a.name.clone()).collect();
                let ips: Vec<String> = s
                    .networks
                    .iter()
                    .flat_map(|n| n.ips.iter().map(ToString::to_string))
                    .collect();
                rows.push(vec![
                    s.uuid.clone(),
                    s.name.clone().unwrap_or_else(|| "-".into()),
                    s.state.into(),
                    apps.join(","),
                    if ips.is_empty() {
                        "-".into()
                    } else {
                        ips.join(",")
                    },
                    s.created.clone().unwrap_or_else(|| "-".into()),
                ]);
            }
            print!("{}", columns(&rows));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Waits until the pod `given` names is no longer starting or running.
fn wait_for_end(pods: &Pods, given: &str, limit: Option<Duration>) -> Result<()> {
    let start = Instant::now();
    loop {
        let pod = pods.find(given)?;
        if !matches!(status::state_of(&pod), "running" | "starting" | "prepared") {
            return Ok(());
        }
        if limit.is_some_and(|l| start.elapsed() >= l) {
            bail!(
                "pod {} still {} after {:?}",
                pod.uuid,
                status::state_of(&pod),
                limit.unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn status(args: &StatusArgs, ctx: &Ctx) -> Result<ExitCode> {
    let pods = ctx.pods()?;
    if let Some(w) = &args.wait {
        let limit = super::parse_duration(w)?;
        wait_for_end(&pods, &args.pod, (!limit.is_zero()).then_some(limit))?;
    }
    let s = status::status(&pods.find(&args.pod)?);
    match args.format {
        ListFormat::Json => println!("{}", serde_json::to_string_pretty(&s)?),
        ListFormat::Table => {
            let mut out = format!("uuid={}\nstate={}\n", s.uuid, s.state);
            if let Some(n) = &s.name {
                out.push_str(&format!("name={n}\n"));
            }
            if let Some(c) = &s.created {
                out.push_str(&format!("created={c}\n"));
            }
            if let Some(p) = s.pid {
                out.push_str(&format!("pid={p}\n"));
            }
            for n in &s.networks {
                let ips: Vec<String> = n.ips.iter().map(ToString::to_string).collect();
                out.push_str(&format!("networks={}:ip4={}\n", n.name, ips.join(",")));
            }
            for a in &s.apps {
                match a.exit {
                    Some(e) => out.push_str(&format!("app-{}={e}\n", a.name)),
                    None => out.push_str(&format!("app-{}=-\n", a.name)),
                }
            }
            if let Some(e) = &s.error {
                out.push_str(&format!("error={e}\n"));
            }
            print!("{out}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn cat_manifest(args: &PodArg, ctx: &Ctx) -> Result<ExitCode> {
    let pod = ctx.pods()?.find(&args.pod)?;
    let m = pod.manifest()?;
    println!("{}", serde_json::to_string_pretty(&m)?);
    Ok(ExitCode::SUCCESS)
}

pub fn logs(args: &LogsArgs, ctx: &Ctx) -> Result<ExitCode> {
    let pods = ctx.pods()?;
    let pod = pods.find(&args.pod)?;
    let path = pod.dir.join("log");
    let mut f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("pod {} has no log (only detached pods keep one; a foreground pod's output went to its terminal)", pod.uuid)
        }
        Err(e) => return Err(e).with_context(|| format!("open `{}`", path.display())),
    };
    let mut out = std::io::stdout().lock();
    let mut buf = vec![0u8; 64 << 10];
    let mut pos = 0u64;
    loop {
        loop {
            let n = f.read(&mut buf).context("read the pod log")?;
            if n == 0 {
                break;
            }
            pos += n as u64;
            out.write_all(&buf[..n]).context("write the log")?;
        }
        out.flush().context("write the log")?;
        if !args.follow {
            break;
        }
        let now = pods.find(&pod.uuid)?;
        if now.state != State::Run && now.state != State::Prepared {
            // One last read: the supervisor's final lines.
            f.seek(SeekFrom::Start(pos)).context("read the pod log")?;
            std::io::copy(&mut f, &mut out).context("write the log")?;
            break;
        }
        if !now.locked() && now.state == State::Run {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(ExitCode::SUCCESS)
}
