//! The pod supervisor: the process that runs a prepared pod and stays with it until
//! its apps are done. `hoist run` is it in the foreground (a good systemd main
//! process); `hoist run --detach` starts it as `hoist supervise UUID` in its own
//! session with the apps' output going to the pod's `log`.
//!
//! It holds the pod's lock for the pod's life, is a child subreaper (the app inits
//! that the stage1's `create` leaves behind become its children), records each app's
//! exit status, forwards SIGTERM/SIGINT/SIGHUP to the apps and follows with SIGKILL
//! after `--stop-timeout` (SIGUSR1, sent by `hoist stop --force`, kills at once), and
//! when every app has ended tears the pod down and moves it to `exited-garbage`.
//! Setup that fails part-way is torn down by the same code, so nothing is left.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};

use super::args::PodFlags;
use super::prepare::uses_cni;
use super::spec::{self, PodParts};
use super::stage1::{Output, Stage1};
use super::status::pod_exit;
use super::teardown::teardown;
use super::{io_err, ns, rootfs, user, write_atomic, Pod, PodError, PodManifest, Pods, State};
use crate::image::store::Store;
use crate::net::{cni, files};
use crate::sys::{self, Exit, SignalSet};
use crate::systemd;

/// An app the stage1 created.
struct Running {
    name: String,
    pid: i32,
    exit: Option<Exit>,
}

/// The socket an app that speaks sd_notify reaches the supervisor on (through the
/// stage1), by app name.
type NotifySocket = (String, UnixDatagram, bool);

/// What the supervisor needs besides the pod.
pub struct Options<'a> {
    pub store: &'a Store,
    pub net_dir: &'a Path,
    pub output: Output<'a>,
    /// Print the pod's UUID on stdout once its apps run, then let go of stdout: how
    /// `hoist supervise` tells `run --detach`, which waits on that pipe.
    pub announce: bool,
}

/// The pod's hostname: `--hostname`, else its name, else `rkt-` and the UUID's start.
pub fn hostname(m: &PodManifest) -> String {
    m.flags
        .hostname
        .clone()
        .or_else(|| m.name.clone().filter(|n| n.len() <= 63 && !n.contains('_')))
        .unwrap_or_else(|| format!("rkt-{}", &m.uuid[..8]))
}

/// Whether a pod with these `--net` values gets a network namespace of its own.
pub fn wants_netns(net: &[String]) -> bool {
    !net.iter().any(|n| n == "host")
}

/// Runs the prepared `pod` to its end; returns the pod's exit status. `early`: the
/// namespace thread, when the caller started it before preparing the pod.
pub fn run(
    pods: &Pods,
    mut pod: Pod,
    opts: &Options<'_>,
    early: Option<ns::Maker>,
) -> Result<i32, PodError> {
    let Some(_lock) = pod.lock(false)? else {
        return Err(PodError::Busy(pod.uuid.clone()));
    };
    if pod.state != State::Prepared {
        return Err(PodError::WrongState {
            uuid: pod.uuid.clone(),
            state: pod.state.dir_name().into(),
            wanted: "only a prepared pod can be run".into(),
        });
    }
    let manifest = pod.manifest()?;
    pods.move_to(&mut pod, State::Run)?;
    let signals = SignalSet::block(&[
        libc::SIGCHLD,
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGUSR1,
    ])
    .map_err(io_err("block signals"))?;
    sys::set_child_subreaper().map_err(io_err("become a child subreaper"))?;
    let stage1 = Stage1::new(manifest.stage1.clone(), &pod);

    let (mut apps, notify) = match setup(&pod, &manifest, opts, &stage1, early) {
        Ok(started) => started,
        Err(e) => {
            let _ = std::fs::write(pod.dir.join("error"), format!("{e}\n"));
            finish(pods, &mut pod, &manifest);
            return Err(e);
        }
    };
    let pending = wait_ready(&pod, &signals, &mut apps, &notify)?;
    drop(notify);
    let _ = std::fs::write(pod.started_path(), b"");
    if opts.announce {
        announce(&pod.uuid);
    }
    // The supervisor now idles for the pod's life: a detached one gives back the code
    // pages of setup at once; a foreground one once its pod has run for a while, so that
    // a short pod does not fault them back in for its teardown.
    let mut released = matches!(opts.output, Output::File(_));
    if released {
        sys::release_text_pages();
    }
    if manifest.flags.notify {
        systemd::notify(&format!(
            "READY=1\nMAINPID={}\nSTATUS=pod {} running\n",
            std::process::id(),
            pod.uuid
        ));
    }
    watch(
        &pod,
        &manifest.flags,
        &signals,
        &mut apps,
        pending,
        &mut released,
    )?;
    if manifest.flags.notify {
        systemd::notify("STOPPING=1\n");
    }
    finish(pods, &mut pod, &manifest);
    let statuses: Vec<Option<i32>> = manifest
        .apps
        .iter()
        .map(|a| {
            apps.iter()
                .find(|r| r.name == a.name)
                .and_then(|r| r.exit.map(Exit::status))
        })
        .collect();
    Ok(pod_exit(&statuses).unwrap_or(1))
}

/// Writes `uuid` to stdout and points stdout at /dev/null (the reader learns the pod
/// runs; nothing the supervisor does later can block on or break that pipe).
fn announce(uuid: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{uuid}").and_then(|()| out.flush());
    let _ = sys::redirect_to_null(libc::STDOUT_FILENO);
}

/// Tears the pod down and moves it to `exited-garbage`; failures go to `error`.
fn finish(pods: &Pods, pod: &mut Pod, manifest: &PodManifest) {
    let exits = pod.recorded_exits(manifest);
    let errors = teardown(pod, manifest);
    if !errors.is_empty() {
        let _ = std::fs::write(pod.dir.join("teardown-errors"), errors.join("\n") + "\n");
        for e in &errors {
            eprintln!("hoist: tear down pod {}: {e}", pod.uuid);
        }
    }
    if let Err(e) = pods.retire(pod, &exits) {
        eprintln!("hoist: {e}");
    }
}

/// Namespaces (on a thread, meanwhile: shm, volumes, the rootfs and config.json of
/// every app), networks, /etc files, then `run --detach` of each app, in order.
fn setup(
    pod: &Pod,
    m: &PodManifest,
    opts: &Options<'_>,
    stage1: &Stage1,
    early: Option<ns::Maker>,
) -> Result<(Vec<Running>, Vec<NotifySocket>), PodError> {
    let flags = &m.flags;
    let host = hostname(m);
    let with_net = wants_netns(&flags.net);
    super::stage1::make_root(&pod.stage1_root())?;
    let rt = pod.rt_dir();
    mount_rt(&rt)?;
    write_atomic(
        &pod.supervisor_path(),
        format!("{}\n", std::process::id()).as_bytes(),
    )?;
    // The namespaces are made on their own thread while the rest is set up here.
    let pending = match early {
        Some(maker) if maker.with_net() == with_net => maker.bind(&rt, &host)?,
        _ => ns::start(&rt, &host, with_net)?,
    };
    let etc = rt.join("etc");
    let shm = rt.join("shm");
    let volumes = pod.dir.join("volumes");
    std::fs::create_dir_all(&shm).map_err(io_err(format!("create `{}`", shm.display())))?;
    sys::mount(
        Some("shm".as_ref()),
        &shm,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        Some("mode=1777,size=65536k"),
    )
    .map_err(io_err(format!(
        "mount the pod's shm on `{}`",
        shm.display()
    )))?;
    for v in flags.volumes.iter().filter(|v| v.is_named()) {
        let d = volumes.join(&v.source);
        std::fs::create_dir_all(&d).map_err(io_err(format!("create volume `{}`", d.display())))?;
    }
    // What the stage1 binds onto the rootfs (see rootfs::mount_points).
    let mut points: Vec<rootfs::Point<'_>> = vec![
        ("etc/hosts", false),
        ("etc/resolv.conf", false),
        ("etc/hostname", false),
    ];
    for v in &flags.volumes {
        let dir = v.is_named() || Path::new(&v.source).is_dir();
        points.push((v.target.trim_start_matches('/'), dir));
    }
    {
        let _store = opts.store.lock_shared()?;
        for app in &m.apps {
            let image = opts.store.image(&app.digest)?;
            let layers = opts.store.layer_dirs(&image)?;
            let bundle = pod.bundle_dir(&app.name);
            std::fs::create_dir_all(&bundle)
                .map_err(io_err(format!("create `{}`", bundle.display())))?;
            let rootfs = rootfs::mount(pod, &app.name, &layers, flags.no_overlay, &points)?;
            let user = user::resolve(&rootfs, &app.user)?;
            let paths = pending.paths();
            let parts = PodParts {
                flags,
                hostname: &host,
                netns: paths.net.clone(),
                ipcns: paths.ipc.clone(),
                utsns: paths.uts.clone(),
                etc: etc.clone(),
                shm: shm.clone(),
                volumes: volumes.clone(),
                rootfs,
                cgroups_path: format!("/hoist/{}", pod.cgroup_name(&app.name)),
            };
            let config = spec::app_config(app, &user, &parts)?;
            let text = serde_json::to_vec(&config).unwrap_or_default();
            write_atomic(&bundle.join("config.json"), &text)?;
        }
    }
    let namespaces = pending.finish()?;
    let mut ips = Vec::new();
    if uses_cni(flags) {
        let net_dir = pod.dir.join("net");
        std::fs::create_dir_all(&net_dir)
            .map_err(io_err(format!("create `{}`", net_dir.display())))?;
        let netns = namespaces.net.clone().unwrap_or_default();
        for (i, name) in flags.net.iter().enumerate() {
            let net = cni::load(opts.net_dir, name)?;
            let att = cni::add(&net, &m.uuid, &netns, &format!("eth{i}"), &flags.ports)?;
            ips.extend(att.ips());
            let text = serde_json::to_vec(&att).unwrap_or_default();
            write_atomic(&net_dir.join(format!("{i:02}-{name}.json")), &text)?;
        }
    }
    files::write(
        &etc,
        &host,
        &ips,
        &flags.hosts_entries,
        &flags.dns,
        with_net,
    )?;
    start_apps(pod, m, opts, stage1)
}

/// Mounts the pod's run-time tmpfs on `rt` (see Pod::rt_dir).
fn mount_rt(rt: &Path) -> Result<(), PodError> {
    std::fs::create_dir_all(rt).map_err(io_err(format!("create `{}`", rt.display())))?;
    sys::mount(
        Some("hoist-pod".as_ref()),
        rt,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
        Some("mode=0700,size=16m"),
    )
    .map_err(io_err(format!(
        "mount the pod's run-time tmpfs on `{}`",
        rt.display()
    )))
}

/// `run --detach` of each app, in order; an app that speaks sd_notify gets a socket
/// of the supervisor's through the stage1.
fn start_apps(
    pod: &Pod,
    m: &PodManifest,
    opts: &Options<'_>,
    stage1: &Stage1,
) -> Result<(Vec<Running>, Vec<NotifySocket>), PodError> {
    let flags = &m.flags;
    let mut apps = Vec::new();
    let mut notify = Vec::new();
    for app in &m.apps {
        let mut sock = if flags.notify && app.notify {
            let dir = pod.dir.join("notify");
            std::fs::create_dir_all(&dir).map_err(io_err(format!("create `{}`", dir.display())))?;
            let path = dir.join(format!("{}.sock", app.name));
            let s =
                UnixDatagram::bind(&path).map_err(io_err(format!("bind `{}`", path.display())))?;
            s.set_nonblocking(true)
                .map_err(io_err("make the notify socket non-blocking"))?;
            Some((path, s, false))
        } else {
            None
        };
        let pid = stage1.run_detached(
            &app.name,
            &pod.container_id(&app.name),
            &pod.bundle_dir(&app.name),
            &opts.output,
            sock.as_mut().map(|(p, s, r)| (p.as_path(), &*s, r)),
        )?;
        if let Some((_, s, ready)) = sock {
            notify.push((app.name.clone(), s, ready));
        }
        apps.push(Running {
            name: app.name.clone(),
            pid,
            exit: None,
        });
    }
    Ok((apps, notify))
}

/// Waits until every app that speaks sd_notify has sent READY=1 (forwarded by the
/// stage1 to the app's socket), or has ended. A stop signal arriving meanwhile ends
/// the wait and is returned for `watch` to act on.
fn wait_ready(
    pod: &Pod,
    signals: &SignalSet,
    apps: &mut [Running],
    notify: &[NotifySocket],
) -> Result<Option<i32>, PodError> {
    let mut waiting: Vec<&NotifySocket> = notify.iter().filter(|n| !n.2).collect();
    while !waiting.is_empty() {
        waiting.retain(|(name, sock, _)| {
            let ready = super::stage1::drain_ready(sock);
            let ended = apps.iter().any(|a| &a.name == name && a.exit.is_some());
            !ready && !ended
        });
        if waiting.is_empty() {
            break;
        }
        match signals
            .wait(Duration::from_millis(50))
            .map_err(io_err("wait for signals"))?
        {
            Some(libc::SIGCHLD) | None => reap(pod, apps)?,
            Some(sig) => return Ok(Some(sig)),
        }
    }
    Ok(None)
}

/// Records the exit of every app that has ended.
fn reap(pod: &Pod, apps: &mut [Running]) -> Result<(), PodError> {
    while let Some((pid, exit)) = sys::reap_any().map_err(io_err("wait for the apps"))? {
        if let Some(a) = apps.iter_mut().find(|a| a.pid == pid && a.exit.is_none()) {
            a.exit = Some(exit);
            let _ = std::fs::write(pod.exit_path(&a.name), format!("{}\n", exit.status()));
        }
    }
    Ok(())
}

/// Waits for every app to end, passing signals on.
fn watch(
    pod: &Pod,
    flags: &PodFlags,
    signals: &SignalSet,
    apps: &mut [Running],
    mut pending: Option<i32>,
    released: &mut bool,
) -> Result<(), PodError> {
    let mut kill_at: Option<Instant> = None;
    let signal_all = |apps: &[Running], sig: i32| {
        for a in apps.iter().filter(|a| a.exit.is_none()) {
            let _ = sys::kill(a.pid, sig);
        }
    };
    while apps.iter().any(|a| a.exit.is_none()) {
        let idle = if *released { 5 } else { 1 };
        let timeout = kill_at.map_or(Duration::from_secs(idle), |t| {
            t.saturating_duration_since(Instant::now())
        });
        let sig = match pending.take() {
            Some(s) => Some(s),
            None => signals.wait(timeout).map_err(io_err("wait for signals"))?,
        };
        if sig.is_none() && !*released {
            sys::release_text_pages();
            *released = true;
        }
        match sig {
            Some(libc::SIGTERM | libc::SIGINT | libc::SIGHUP) if kill_at.is_none() => {
                signal_all(apps, libc::SIGTERM);
                kill_at = Some(Instant::now() + flags.stop_timeout);
            }
            Some(libc::SIGUSR1) => signal_all(apps, libc::SIGKILL),
            _ => {}
        }
        reap(pod, apps)?;
        // An app reaped by someone else (it should not happen: we are its subreaper)
        // must not keep the pod alive for ever.
        for a in apps
            .iter_mut()
            .filter(|a| a.exit.is_none() && !sys::alive(a.pid))
        {
            a.exit = Some(Exit::Code(255));
        }
        if kill_at.is_some_and(|t| Instant::now() >= t) {
            signal_all(apps, libc::SIGKILL);
            kill_at = Some(Instant::now() + Duration::from_secs(5));
        }
    }
    Ok(())
}
