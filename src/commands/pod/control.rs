//! `hoist enter`, `hoist stop`, `hoist rm`, `hoist gc`: acting on pods, always through
//! their locks: a live pod is asked (its supervisor gets a signal), a dead one (its
//! lock free) is torn down here.

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};

use super::super::Ctx;
use crate::cli::pod::{EnterArgs, GcArgs, RmArgs, StopArgs};
use crate::pod::stage1::Stage1;
use crate::pod::status::state_of;
use crate::pod::teardown::{remove_dir, teardown};
use crate::pod::{Pod, Pods, State};
use crate::sys;

pub fn enter(args: &EnterArgs, ctx: &Ctx) -> Result<ExitCode> {
    let pod = ctx.pods()?.find(&args.pod)?;
    if state_of(&pod) != "running" {
        bail!(
            "pod {} is {}: only a running pod can be entered",
            pod.uuid,
            state_of(&pod)
        );
    }
    let m = pod.manifest()?;
    let app = match &args.app {
        Some(a) => m
            .apps
            .iter()
            .find(|x| &x.name == a)
            .with_context(|| format!("pod {} has no app `{a}`", pod.uuid))?,
        None => m.apps.first().context("the pod has no apps")?,
    };
    if pod.exit_status(&app.name).is_some() {
        bail!("app `{}` of pod {} has ended", app.name, pod.uuid);
    }
    let command = if args.command.is_empty() {
        vec!["/bin/sh".to_owned()]
    } else {
        args.command.clone()
    };
    let stage1 = Stage1::new(m.stage1.clone(), &pod);
    let code = stage1.exec(&pod.container_id(&app.name), &command)?;
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

/// Tears down a started pod whose supervisor is gone and moves it to exited-garbage.
/// Returns false when someone holds its lock (it is alive after all).
fn reap_dead(pods: &Pods, pod: &mut Pod) -> Result<bool> {
    let Some(_lock) = pod.lock(false)? else {
        return Ok(false);
    };
    let m = pod.manifest()?;
    let exits = pod.recorded_exits(&m);
    let errors = teardown(pod, &m);
    if !errors.is_empty() {
        bail!("tear down pod {}: {}", pod.uuid, errors.join("; "));
    }
    pods.retire(pod, &exits)?;
    Ok(true)
}

/// Signals every pod's supervisor first, then waits for them all, so that stopping
/// many pods takes one stop timeout, not one each.
pub fn stop(args: &StopArgs, ctx: &Ctx) -> Result<ExitCode> {
    let pods = ctx.pods()?;
    let mut waiting: Vec<(Pod, Duration)> = Vec::new();
    for given in &args.pods {
        let mut pod = pods.find(given)?;
        match state_of(&pod) {
            "exited" => {
                println!("{}", pod.uuid);
                continue;
            }
            "dead" => {
                reap_dead(&pods, &mut pod)?;
                println!("{}", pod.uuid);
                continue;
            }
            "running" | "starting" => {}
            s => bail!("pod {} is {s}: not running", pod.uuid),
        }
        let m = pod.manifest()?;
        let pid = supervisor_of(&pod)?;
        let sig = if args.force {
            libc::SIGUSR1
        } else {
            libc::SIGTERM
        };
        sys::kill(pid, sig)
            .with_context(|| format!("signal the supervisor of pod {}", pod.uuid))?;
        waiting.push((pod, m.flags.stop_timeout + Duration::from_secs(30)));
    }
    let start = Instant::now();
    for (pod, limit) in waiting {
        loop {
            let now = pods.find(&pod.uuid)?;
            if now.state != State::Run || !now.locked() {
                break;
            }
            if start.elapsed() > limit {
                bail!("pod {} did not stop within {:?}", pod.uuid, limit);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut now = pods.find(&pod.uuid)?;
        if now.state == State::Run {
            reap_dead(&pods, &mut now)?;
        }
        println!("{}", pod.uuid);
    }
    Ok(ExitCode::SUCCESS)
}

/// The pid of a live pod's supervisor. A supervisor records it once the pod's
/// run-time tmpfs is mounted, just after taking the lock: a pod caught in between is
/// given a moment.
fn supervisor_of(pod: &Pod) -> Result<i32> {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(pid) = pod.supervisor_pid() {
            return Ok(pid);
        }
        if !pod.locked() || Instant::now() >= until {
            bail!("the supervisor pid of pod {} is not recorded", pod.uuid);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn rm(args: &RmArgs, ctx: &Ctx) -> Result<ExitCode> {
    let pods = ctx.pods()?;
    for given in &args.pods {
        let mut pod = pods.find(given)?;
        match state_of(&pod) {
            "running" | "starting" => bail!("pod {} is running: stop it first", pod.uuid),
            "dead" => {
                reap_dead(&pods, &mut pod)?;
            }
            _ => {}
        }
        let Some(_lock) = pod.lock(false)? else {
            bail!("pod {} is busy", pod.uuid);
        };
        remove_dir(&pod).map_err(anyhow::Error::msg)?;
        println!("{}", pod.uuid);
    }
    Ok(ExitCode::SUCCESS)
}

fn age(path: &std::path::Path) -> Duration {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .unwrap_or(Duration::MAX)
}

pub fn gc(args: &GcArgs, ctx: &Ctx) -> Result<ExitCode> {
    let grace = super::parse_duration(&args.grace_period)?;
    let pods = ctx.pods()?;
    let mut failed = Vec::new();
    for mut pod in pods.all()? {
        let r = match pod.state {
            State::Run if !pod.locked() => reap_dead(&pods, &mut pod).map(|done| {
                if done {
                    eprintln!("gc: pod {}: its supervisor was gone; torn down", pod.uuid);
                }
            }),
            State::Embryo if age(&pod.dir) > Duration::from_secs(600) => {
                std::fs::remove_dir_all(&pod.dir)
                    .with_context(|| format!("remove `{}`", pod.dir.display()))
            }
            _ => Ok(()),
        };
        if let Err(e) = r {
            failed.push(format!("{e:#}"));
            continue;
        }
        if pod.state == State::Exited && age(&pod.dir.join("exited")) >= grace {
            let removed = match pod.lock(false)? {
                Some(_lock) => remove_dir(&pod).map(|()| true),
                None => Ok(false),
            };
            match removed {
                Ok(true) => println!("{}", pod.uuid),
                Ok(false) => {}
                Err(e) => failed.push(e),
            }
        }
    }
    if !failed.is_empty() {
        bail!("gc: {}", failed.join("; "));
    }
    Ok(ExitCode::SUCCESS)
}
