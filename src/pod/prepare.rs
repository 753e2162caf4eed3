//! `hoist prepare` (and the first half of `hoist run`): checks everything that can be
//! checked before anything is made (names, volume sources, networks, host ports, each
//! app's command), resolves each app from its image, and writes the pod directory
//! under `embryo/`, renamed into `prepared/` once whole.

use std::path::{Path, PathBuf};

use super::args::{AppFlags, PodFlags};
use super::manifest::{default_app_name, valid_name, App, ImageConfig};
use super::{io_err, new_uuid, Pod, PodError, PodManifest, Pods, State};
use crate::image::store::Image;
use crate::net::{cni, ports, NetError};

/// Whether `flags` asks for CNI networks (not host, not none).
pub fn uses_cni(flags: &PodFlags) -> bool {
    !flags.net.iter().any(|n| n == "host" || n == "none")
}

/// Checks the pod-wide flags against the host and the other pods.
fn check_flags(pods: &Pods, flags: &PodFlags, net_dir: &Path) -> Result<(), PodError> {
    if let Some(name) = &flags.name {
        if !valid_name(name) {
            return Err(PodError::BadName(name.clone()));
        }
        for p in pods.all()? {
            if p.state != State::Embryo
                && p.manifest().is_ok_and(|m| m.name.as_deref() == Some(name))
            {
                return Err(PodError::NameTaken(name.clone()));
            }
        }
    }
    for v in &flags.volumes {
        if !v.is_named() && !Path::new(&v.source).exists() {
            return Err(PodError::VolumeSource(v.source.clone().into()));
        }
    }
    if !flags.ports.is_empty() {
        if !uses_cni(flags) {
            return Err(NetError::PortWithoutCni(flags.net.join(",")).into());
        }
        ports::check_free(&flags.ports)?;
        for p in pods.all()? {
            if p.state == State::Run && p.locked() {
                if let Some(taken) = p
                    .manifest()
                    .ok()
                    .and_then(|m| ports::overlap(&flags.ports, &m.flags.ports))
                {
                    return Err(NetError::PortTaken(format!("{taken} (pod {})", p.uuid)).into());
                }
            }
        }
    }
    if uses_cni(flags) {
        for n in &flags.net {
            cni::load(net_dir, n)?;
        }
    }
    if let super::args::Seccomp::File(f) = &flags.seccomp {
        if !f.is_file() {
            return Err(PodError::Seccomp {
                path: f.clone(),
                reason: "no such file".into(),
            });
        }
    }
    Ok(())
}

/// The apps, named (a default name gets `-2`, `-3`… when taken) and resolved.
fn resolve_apps(apps: &[(AppFlags, Image)]) -> Result<Vec<App>, PodError> {
    let mut out: Vec<App> = Vec::new();
    for (flags, image) in apps {
        let name = match &flags.name {
            Some(n) => {
                if !valid_name(n) {
                    return Err(PodError::BadName(n.clone()));
                }
                if out.iter().any(|a| &a.name == n) {
                    return Err(PodError::NameTaken(format!("{n}` (an app of this pod")));
                }
                n.clone()
            }
            None => {
                let base = default_app_name(&image.name);
                let mut n = base.clone();
                let mut i = 2;
                while out.iter().any(|a| a.name == n)
                    || apps
                        .iter()
                        .any(|(f, _)| f.name.as_deref() == Some(n.as_str()))
                {
                    n = format!("{base}-{i}");
                    i += 1;
                }
                n
            }
        };
        let config =
            ImageConfig::parse(&image.config_bytes).map_err(|e| PodError::BadImageConfig {
                image: image.name.clone(),
                reason: e.to_string(),
            })?;
        out.push(App::resolve(
            name,
            flags,
            &image.name,
            &image.digest.to_string(),
            &config,
        )?);
    }
    Ok(out)
}

/// Has the file system spread pod directories (`chattr +T` on `embryo`, where they are
/// made): ext4 otherwise keeps them near their parent, where pods coming and going
/// (and whatever else was deleted there) leave many inodes freed a moment ago. On
/// these VMs' ext4 (no journal), right after thousands were, a pod's tree of six
/// directories and two files took 5.3 ms made there and 0.3 ms made under a `+T`
/// parent; the spreading search itself costs ~0.2 ms. Best effort.
fn spread_pods(embryo: &Path) {
    if let Ok(dir) = std::fs::File::open(embryo) {
        let _ = crate::sys::set_topdir(std::os::fd::AsFd::as_fd(&dir));
    }
}

/// Prepares a pod: returns it in the `prepared` state.
pub fn prepare(
    pods: &Pods,
    net_dir: &Path,
    stage1: PathBuf,
    flags: PodFlags,
    apps: &[(AppFlags, Image)],
) -> Result<Pod, PodError> {
    check_flags(pods, &flags, net_dir)?;
    let apps = resolve_apps(apps)?;
    let uuid = new_uuid()?;
    let manifest = PodManifest {
        uuid: uuid.clone(),
        name: flags.name.clone(),
        created: crate::time::now_rfc3339(),
        stage1,
        flags,
        apps,
    };
    let mut pod = Pod {
        uuid: uuid.clone(),
        state: State::Embryo,
        dir: pods.state_dir(State::Embryo).join(&uuid),
    };
    spread_pods(&pods.state_dir(State::Embryo));
    let made = (|| {
        std::fs::create_dir(&pod.dir).map_err(io_err(format!("create `{}`", pod.dir.display())))?;
        let text = serde_json::to_vec_pretty(&manifest).map_err(|e| PodError::Io {
            what: "write the pod manifest".into(),
            source: std::io::Error::other(e),
        })?;
        // The embryo directory is the pod's alone until the rename: no temp file.
        let path = pod.manifest_path();
        std::fs::write(&path, &text).map_err(io_err(format!("write `{}`", path.display())))?;
        pods.move_to(&mut pod, State::Prepared)
    })();
    if let Err(e) = made {
        let _ = std::fs::remove_dir_all(&pod.dir);
        return Err(e);
    }
    if let Some(f) = &manifest.flags.uuid_file_save {
        if let Err(e) = std::fs::write(f, format!("{uuid}\n")) {
            let _ = std::fs::remove_dir_all(&pod.dir);
            return Err(io_err(format!("write `{}`", f.display()))(e));
        }
    }
    Ok(pod)
}
