//! What `hoist list` and `hoist status` report, read from pod directories and locks
//! alone: the state (embryo, prepared, running, exited, or dead when a started pod's
//! supervisor is gone without tearing it down), the apps with their exit statuses,
//! the supervisor's pid and the pod's addresses.

use std::net::IpAddr;

use serde::Serialize;

use super::{Pod, State};
use crate::net::cni::Attachment;

#[derive(Clone, Debug, Serialize)]
pub struct AppStatus {
    pub name: String,
    pub image: String,
    pub exit: Option<i32>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PodStatus {
    pub uuid: String,
    pub name: Option<String>,
    pub state: &'static str,
    pub created: Option<String>,
    pub pid: Option<i32>,
    pub apps: Vec<AppStatus>,
    pub networks: Vec<NetStatus>,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct NetStatus {
    pub name: String,
    pub ips: Vec<IpAddr>,
}

/// A pod's state word.
pub fn state_of(pod: &Pod) -> &'static str {
    match pod.state {
        State::Embryo => "embryo",
        State::Prepared => "prepared",
        State::Exited => "exited",
        State::Run if pod.locked() => {
            if pod.started_path().exists() {
                "running"
            } else {
                "starting"
            }
        }
        State::Run => "dead",
    }
}

/// Everything `status` prints about `pod`.
pub fn status(pod: &Pod) -> PodStatus {
    let manifest = pod.manifest().ok();
    let apps = manifest
        .iter()
        .flat_map(|m| m.apps.iter())
        .map(|a| AppStatus {
            name: a.name.clone(),
            image: a.image.clone(),
            exit: pod.exit_status(&a.name),
        })
        .collect();
    let mut networks = Vec::new();
    if let Ok(entries) = std::fs::read_dir(pod.dir.join("net")) {
        let mut files: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        files.sort();
        for f in files {
            if let Some(att) = std::fs::read(&f)
                .ok()
                .and_then(|b| serde_json::from_slice::<Attachment>(&b).ok())
            {
                networks.push(NetStatus {
                    name: att.network.clone(),
                    ips: att.ips(),
                });
            }
        }
    }
    let state = state_of(pod);
    PodStatus {
        uuid: pod.uuid.clone(),
        name: manifest.as_ref().and_then(|m| m.name.clone()),
        state,
        created: manifest.as_ref().map(|m| m.created.clone()),
        pid: if matches!(state, "running" | "starting") {
            pod.supervisor_pid()
        } else {
            None
        },
        apps,
        networks,
        error: std::fs::read_to_string(pod.dir.join("error"))
            .ok()
            .map(|s| s.trim().to_owned()),
    }
}

/// The pod's exit status by `hoist run`'s rule: the first app's when it is not 0, else
/// the first failing app's, else 0. `None` while any app has no status.
pub fn pod_exit(statuses: &[Option<i32>]) -> Option<i32> {
    let all: Option<Vec<i32>> = statuses.iter().copied().collect();
    let all = all?;
    Some(match all.first() {
        Some(&first) if first != 0 => first,
        _ => all.iter().copied().find(|&s| s != 0).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits() {
        assert_eq!(pod_exit(&[Some(0), Some(0)]), Some(0));
        assert_eq!(pod_exit(&[Some(3), Some(4)]), Some(3));
        assert_eq!(pod_exit(&[Some(0), Some(4)]), Some(4));
        assert_eq!(pod_exit(&[Some(0), None]), None);
    }
}
