//! `hoist run`, `hoist prepare`, `hoist run-prepared`, `hoist unit`, and `hoist
//! supervise` (the detached supervisor `run --detach` starts).

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{anyhow, bail, Context, Result};

use super::super::Ctx;
use crate::cli::pod::{PodArg, RunWords, SuperviseArgs};
use crate::image::source::Platform;
use crate::image::store::{Image, Store, StoreError};
use crate::pod::args::{self, AppFlags, Pull, RunArgs};
use crate::pod::stage1::{self, Output};
use crate::pod::supervise::{self, Options};
use crate::pod::{ns, prepare, teardown, Pod, Pods, State};
use crate::sys;
use crate::systemd;

fn wants_help(words: &[String]) -> bool {
    words.first().is_some_and(|w| w == "--help" || w == "-h")
}

/// The image an app names: from the store, fetched first as `--pull` says.
fn image_for(
    ctx: &Ctx,
    store: &Store,
    name: &str,
    pull: Pull,
    platform: &Platform,
) -> Result<Image> {
    if pull != Pull::Always {
        match store.image(name) {
            Ok(i) => return Ok(i),
            Err(StoreError::UnknownImage { .. } | StoreError::Reference(_))
                if pull == Pull::Missing => {}
            Err(StoreError::UnknownImage { .. } | StoreError::Reference(_)) => {
                bail!("image `{name}` is not in the store (hoist fetch it, or --pull missing)")
            }
            Err(e) => return Err(e).with_context(|| format!("read image `{name}`")),
        }
    }
    let fetched = super::super::fetch::fetch_image(ctx, name, platform, None)?;
    store
        .image(&fetched.digest.to_string())
        .with_context(|| format!("read image `{name}`"))
}

/// Parses `words` and prepares the pod they describe.
fn prepare_parsed(ctx: &Ctx, parsed: &RunArgs) -> Result<Pod> {
    let store = ctx.store()?;
    let pods = ctx.pods()?;
    let stage1 = stage1::resolve(&parsed.pod.stage1)?;
    let platform = match &parsed.pod.platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::host(),
    };
    let mut apps: Vec<(AppFlags, Image)> = Vec::new();
    for app in &parsed.apps {
        let image = image_for(ctx, &store, &app.image, parsed.pod.pull, &platform)?;
        apps.push((app.clone(), image));
    }
    prepare::prepare(&pods, &ctx.net_dir, stage1, parsed.pod.clone(), &apps)
        .context("prepare the pod")
}

/// Runs a prepared pod in the foreground; a pod that failed to start is removed.
fn run_foreground(ctx: &Ctx, pod: Pod, early: Option<ns::Maker>) -> Result<ExitCode> {
    let store = ctx.store()?;
    let pods = ctx.pods()?;
    let uuid = pod.uuid.clone();
    let opts = Options {
        store: &store,
        net_dir: &ctx.net_dir,
        output: Output::Inherit,
        announce: false,
    };
    match supervise::run(&pods, pod, &opts, early) {
        Ok(code) => Ok(ExitCode::from(u8::try_from(code).unwrap_or(1))),
        Err(e) => {
            remove_failed(&pods, &uuid);
            Err(anyhow!(e).context(format!("run pod {uuid}")))
        }
    }
}

/// Removes a pod that never started (already torn down by its supervisor).
fn remove_failed(pods: &Pods, uuid: &str) {
    if let Ok(p) = pods.find(uuid) {
        if p.state == State::Exited || p.state == State::Prepared {
            let _ = teardown::remove_dir(&p);
        }
    }
}

pub fn run(words: &RunWords, ctx: &Ctx) -> Result<ExitCode> {
    if wants_help(&words.words) {
        print!("{}", args::HELP);
        return Ok(ExitCode::SUCCESS);
    }
    let parsed = args::parse(&words.words)?;
    if parsed.pod.detach {
        return detach(ctx, prepare_parsed(ctx, &parsed)?);
    }
    // The pod's namespaces are made while it is prepared (see ns::Maker).
    let early = ns::Maker::spawn(supervise::wants_netns(&parsed.pod.net));
    let pod = prepare_parsed(ctx, &parsed)?;
    run_foreground(ctx, pod, Some(early))
}

pub fn prepare(words: &RunWords, ctx: &Ctx) -> Result<ExitCode> {
    if wants_help(&words.words) {
        print!(
            "{}",
            args::HELP.replacen(
                "Run a pod",
                "Prepare a pod (then hoist run-prepared UUID)",
                1
            )
        );
        return Ok(ExitCode::SUCCESS);
    }
    let pod = prepare_parsed(ctx, &args::parse(&words.words)?)?;
    println!("{}", pod.uuid);
    Ok(ExitCode::SUCCESS)
}

pub fn run_prepared(args: &PodArg, ctx: &Ctx) -> Result<ExitCode> {
    let pod = ctx.pods()?.find(&args.pod)?;
    let store = ctx.store()?;
    let pods = ctx.pods()?;
    let opts = Options {
        store: &store,
        net_dir: &ctx.net_dir,
        output: Output::Inherit,
        announce: false,
    };
    let uuid = pod.uuid.clone();
    let code =
        supervise::run(&pods, pod, &opts, None).with_context(|| format!("run pod {uuid}"))?;
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

/// Starts `hoist supervise UUID` in its own session, waits until the pod has started
/// (the supervisor prints its UUID on the pipe that is its stdout) or failed (the pipe
/// ends without it), and prints the UUID.
fn detach(ctx: &Ctx, pod: Pod) -> Result<ExitCode> {
    let log_path = pod.dir.join("log");
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("create `{}`", log_path.display()))?;
    let exe = std::env::current_exe().context("find the hoist binary")?;
    let mut child = Command::new(exe)
        .arg("--dir")
        .arg(&ctx.dir)
        .arg("--net-dir")
        .arg(&ctx.net_dir)
        .arg("supervise")
        .arg("--log")
        .arg(&log_path)
        .arg(&pod.uuid)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .context("start the pod's supervisor")?;
    let mut said = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut said);
    }
    if said.trim() != pod.uuid {
        let status = child.wait().context("wait for the supervisor")?;
        let pods = ctx.pods()?;
        let why = pods
            .find(&pod.uuid)
            .ok()
            .and_then(|p| std::fs::read_to_string(p.dir.join("error")).ok())
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|| format!("the supervisor exited with {status}"));
        remove_failed(&pods, &pod.uuid);
        bail!("run pod {}: {why}", pod.uuid);
    }
    println!("{}", pod.uuid);
    Ok(ExitCode::SUCCESS)
}

/// The detached supervisor: its own session, the apps' output to `--log`.
pub fn supervise_cmd(args: &SuperviseArgs, ctx: &Ctx) -> Result<ExitCode> {
    sys::setsid().context("start a new session")?;
    let pods = ctx.pods()?;
    let pod = pods.find(&args.uuid)?;
    let store = ctx.store()?;
    let log = match &args.log {
        Some(p) => Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("open `{}`", p.display()))?,
        ),
        None => None,
    };
    let opts = Options {
        store: &store,
        net_dir: &ctx.net_dir,
        output: log.as_ref().map_or(Output::Inherit, Output::File),
        announce: true,
    };
    let code = supervise::run(&pods, pod, &opts, None)?;
    if let Some(mut l) = log {
        let _ = writeln!(l, "hoist: pod {} exited with status {code}", args.uuid);
    }
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

/// `hoist unit [RUN FLAGS] IMAGE …`: a service unit for this `run` command line.
pub fn unit(words: &RunWords, ctx: &Ctx) -> Result<ExitCode> {
    if wants_help(&words.words) {
        println!("Usage: hoist unit [POD FLAGS] IMAGE [APP FLAGS] [-- ARGS] > NAME.service");
        return Ok(ExitCode::SUCCESS);
    }
    let parsed = args::parse(&words.words)?;
    if parsed.pod.detach {
        bail!("a unit runs the pod in the foreground: drop --detach");
    }
    let exe = std::env::current_exe().context("find the hoist binary")?;
    let exe = exe
        .to_str()
        .context("the hoist binary's path is not UTF-8")?;
    let mut globals = vec![
        "--dir".to_owned(),
        ctx.dir.to_str().context("--dir is not UTF-8")?.to_owned(),
    ];
    if ctx.net_dir != std::path::Path::new(crate::net::DEFAULT_NET_DIR) {
        globals.push("--net-dir".into());
        globals.push(
            ctx.net_dir
                .to_str()
                .context("--net-dir is not UTF-8")?
                .to_owned(),
        );
    }
    print!(
        "{}",
        systemd::unit(exe, &globals, &parsed.apps[0].image, &words.words)
    );
    Ok(ExitCode::SUCCESS)
}
