//! What `hoist list` and `hoist status` report, read from pod directories and locks
//! alone: the state (embryo, prepared, running, exited, or dead when a started pod's
//! supervisor is gone without tearing it down), the apps with their exit statuses,
//! the supervisor's pid and the pod's addresses.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

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
            if pod.dir.join("started").exists() {
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

/// Now, as RFC 3339 in UTC with seconds.
pub fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    rfc3339(secs)
}

/// Seconds since the epoch as RFC 3339 UTC (the civil-from-days algorithm).
pub fn rfc3339(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
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

    #[test]
    fn times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
