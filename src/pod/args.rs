//! The command line of `hoist run` and `hoist prepare`, in rkt's shape:
//!
//! ```text
//! hoist run [POD FLAGS] IMAGE [APP FLAGS] [-- ARGS…] [--- IMAGE [APP FLAGS] [-- ARGS…]]…
//! ```
//!
//! clap cannot express groups of flags that repeat per image, so this module parses the
//! words after `run` itself: pod flags first, then an image, its app flags, `--` and the
//! app's arguments up to `---`, and so on. A second image may also follow an app's
//! flags directly (`hoist run IMG1 IMG2`), as in rkt.

use std::net::IpAddr;
use std::path::PathBuf;

pub use super::values::{parse_bytes, parse_port, parse_volume, Port, Volume};
use std::time::Duration;

/// What went wrong on the command line.
#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    #[error("unknown flag `{0}` (see hoist run --help)")]
    Unknown(String),
    #[error("flag `{0}` needs a value")]
    Missing(String),
    #[error("flag `--{flag}`: bad value `{value}`: {reason}")]
    Value {
        flag: String,
        value: String,
        reason: String,
    },
    #[error("no image given (hoist run [POD FLAGS] IMAGE [APP FLAGS] [-- ARGS])")]
    NoImage,
    #[error("`{0}` is an app flag: give it after the image it is for")]
    AppFlagFirst(String),
}

/// When `run` fetches an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pull {
    Missing,
    Always,
    Never,
}

/// `--seccomp`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Seccomp {
    Default,
    Unconfined,
    File(PathBuf),
}

/// The flags of one pod.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodFlags {
    pub name: Option<String>,
    pub uuid_file_save: Option<PathBuf>,
    pub stage1: String,
    pub net: Vec<String>,
    pub ports: Vec<Port>,
    pub dns: Vec<IpAddr>,
    pub hostname: Option<String>,
    pub hosts_entries: Vec<(IpAddr, String)>,
    pub volumes: Vec<Volume>,
    pub memory: Option<u64>,
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
    pub readonly_rootfs: bool,
    pub caps_retain: Vec<String>,
    pub caps_remove: Vec<String>,
    pub seccomp: Seccomp,
    pub notify: bool,
    pub pull: Pull,
    pub stop_timeout: Duration,
    pub detach: bool,
    pub no_overlay: bool,
    pub platform: Option<String>,
}

impl Default for PodFlags {
    fn default() -> Self {
        PodFlags {
            name: None,
            uuid_file_save: None,
            stage1: "hoist".into(),
            net: vec!["default".into()],
            ports: Vec::new(),
            dns: Vec::new(),
            hostname: None,
            hosts_entries: Vec::new(),
            volumes: Vec::new(),
            memory: None,
            cpus: None,
            pids_limit: None,
            readonly_rootfs: false,
            caps_retain: Vec::new(),
            caps_remove: Vec::new(),
            seccomp: Seccomp::Default,
            notify: false,
            pull: Pull::Missing,
            stop_timeout: Duration::from_secs(10),
            detach: false,
            no_overlay: false,
            platform: None,
        }
    }
}

/// One app as the command line gives it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppFlags {
    pub image: String,
    pub exec: Option<String>,
    pub name: Option<String>,
    pub env: Vec<String>,
    pub env_files: Vec<PathBuf>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    /// The app speaks sd_notify: the pod is ready when it says READY=1.
    #[serde(default)]
    pub notify: bool,
    /// The words after `--`; `None` when there was no `--`.
    pub args: Option<Vec<String>>,
}

/// A parsed `run`/`prepare` command line.
#[derive(Clone, Debug, PartialEq)]
pub struct RunArgs {
    pub pod: PodFlags,
    pub apps: Vec<AppFlags>,
}

/// The text of `hoist run --help`.
pub const HELP: &str = "\
Run a pod: one or more images as apps sharing network, IPC and UTS namespaces.

Usage: hoist run [POD FLAGS] IMAGE [APP FLAGS] [-- ARGS...] [--- IMAGE [APP FLAGS] [-- ARGS...]]...

hoist stays in the foreground until every app has ended. Its exit status is the first
app's when that is not 0, else the first failing app's (0 when all succeeded). SIGINT
and SIGTERM are passed to the apps, SIGKILL follows after --stop-timeout.

Pod flags:
  --name NAME               name the pod (status, enter, stop and rm take it)
  --uuid-file-save FILE     write the pod's UUID to FILE
  --stage1 hoist|runc|crun|PATH   the OCI runtime that runs the apps (default hoist)
  --net host|none|default|NAME[,NAME]   networks (default: default, a CNI bridge)
  --port [IP:]HOSTPORT:PODPORT[/tcp|udp]   forward a host port into the pod
  --dns IP                  a nameserver for the pod's /etc/resolv.conf
  --hostname NAME           the pod's hostname (default: the pod name or rkt-UUID)
  --hosts-entry IP=NAME     an extra line in the pod's /etc/hosts
  --volume SRC:PATH[:ro]    mount a host path (or a named pod volume) into every app
  --memory BYTES[k|m|g]     memory limit of each app
  --cpus N                  CPU limit of each app (e.g. 0.5)
  --pids-limit N            process limit of each app
  --readonly-rootfs         mount the apps' root filesystems read-only
  --caps-retain CAP[,CAP]   keep only these capabilities
  --caps-remove CAP[,CAP]   drop these from the default set
  --seccomp default|unconfined|FILE   the seccomp profile (default: hoist's default)
  --notify                  tell systemd (NOTIFY_SOCKET) READY=1 once the apps started (and
                            the apps marked --notify said READY=1)
  --pull missing|always|never   when to fetch the images (default missing)
  --stop-timeout SECONDS    grace time between SIGTERM and SIGKILL (default 10)
  --detach                  leave the pod running under its own supervisor; print its UUID
  --no-overlay              copy the image instead of mounting it with overlayfs
  --platform OS/ARCH        the platform to fetch

App flags (after the image they are for):
  --exec CMD                the command (default: the image's entrypoint and cmd)
  --name NAME               the app's name (default: from the image name)
  --env K=V                 set an environment variable
  --env-file FILE           read K=V lines from FILE
  --user USER[:GROUP]       run as this user (default: the image's)
  --working-dir DIR         the working directory (default: the image's)
  --notify                  the app speaks sd_notify: with the pod's --notify, the pod is
                            ready when this app sends READY=1
  -- ARGS...                arguments (they replace the image's cmd)
";

/// Parses the words after `run` (or `prepare`).
pub fn parse(words: &[String]) -> Result<RunArgs, ArgsError> {
    let mut pod = PodFlags::default();
    let mut net_given = false;
    let mut apps: Vec<AppFlags> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let word = &words[i];
        i += 1;
        if word == "---" {
            continue;
        }
        if word == "--" {
            let Some(app) = apps.last_mut() else {
                return Err(ArgsError::NoImage);
            };
            let end = words[i..]
                .iter()
                .position(|w| w == "---")
                .map_or(words.len(), |p| i + p);
            app.args = Some(words[i..end].to_vec());
            i = end;
            continue;
        }
        let Some(flag) = word.strip_prefix("--") else {
            apps.push(AppFlags {
                image: word.clone(),
                ..AppFlags::default()
            });
            continue;
        };
        let (flag, inline) = match flag.split_once('=') {
            Some((f, v)) => (f, Some(v.to_owned())),
            None => (flag, None),
        };
        let mut value = || -> Result<String, ArgsError> {
            if let Some(v) = &inline {
                return Ok(v.clone());
            }
            let v = words
                .get(i)
                .ok_or_else(|| ArgsError::Missing(format!("--{flag}")))?;
            i += 1;
            Ok(v.clone())
        };
        if let Some(app) = apps.last_mut() {
            if app_flag(app, flag, inline.is_some(), &mut value)? {
                continue;
            }
        } else if matches!(flag, "exec" | "env" | "env-file" | "user" | "working-dir") {
            return Err(ArgsError::AppFlagFirst(format!("--{flag}")));
        }
        if flag == "net" && !net_given {
            pod.net.clear();
            net_given = true;
        }
        if !pod_flag(&mut pod, flag, inline.is_some(), &mut value)? {
            return Err(ArgsError::Unknown(format!("--{flag}")));
        }
    }
    if apps.is_empty() {
        return Err(ArgsError::NoImage);
    }
    Ok(RunArgs { pod, apps })
}

fn bad(flag: &str, value: &str, reason: impl Into<String>) -> ArgsError {
    ArgsError::Value {
        flag: flag.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

/// Applies an app flag; `Ok(false)` when `flag` is not one.
fn app_flag(
    app: &mut AppFlags,
    flag: &str,
    inline: bool,
    value: &mut dyn FnMut() -> Result<String, ArgsError>,
) -> Result<bool, ArgsError> {
    match flag {
        "exec" => app.exec = Some(value()?),
        "name" => app.name = Some(value()?),
        "env" => {
            let v = value()?;
            if !v.contains('=') || v.starts_with('=') {
                return Err(bad(flag, &v, "want K=V"));
            }
            app.env.push(v);
        }
        "env-file" => app.env_files.push(value()?.into()),
        "user" => app.user = Some(value()?),
        "notify" => app.notify = boolean(flag, inline, value)?,
        "working-dir" => {
            let v = value()?;
            if !v.starts_with('/') {
                return Err(bad(flag, &v, "want an absolute path"));
            }
            app.working_dir = Some(v);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Applies a pod flag; `Ok(false)` when `flag` is not one.
fn pod_flag(
    pod: &mut PodFlags,
    flag: &str,
    has_inline: bool,
    value: &mut dyn FnMut() -> Result<String, ArgsError>,
) -> Result<bool, ArgsError> {
    match flag {
        "name" => pod.name = Some(value()?),
        "uuid-file-save" => pod.uuid_file_save = Some(value()?.into()),
        "stage1" => pod.stage1 = value()?,
        "net" => {
            let v = value()?;
            for n in v.split(',') {
                if n.is_empty() || n.contains('/') {
                    return Err(bad(flag, &v, "want host, none, default or network names"));
                }
                pod.net.push(n.to_owned());
            }
            let special = pod.net.iter().filter(|n| *n == "host" || *n == "none");
            if special.count() > 0 && pod.net.len() > 1 {
                return Err(bad(flag, &v, "host and none stand alone"));
            }
        }
        "port" => {
            let v = value()?;
            pod.ports
                .push(parse_port(&v).map_err(|r| bad(flag, &v, r))?);
        }
        "dns" => {
            let v = value()?;
            pod.dns
                .push(v.parse().map_err(|_| bad(flag, &v, "want an IP address"))?);
        }
        "hostname" => {
            let v = value()?;
            if v.is_empty()
                || v.len() > 64
                || !v
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            {
                return Err(bad(flag, &v, "want a host name"));
            }
            pod.hostname = Some(v);
        }
        "hosts-entry" => {
            let v = value()?;
            let (ip, name) = v
                .split_once('=')
                .ok_or_else(|| bad(flag, &v, "want IP=NAME"))?;
            let ip = ip.parse().map_err(|_| bad(flag, &v, "want IP=NAME"))?;
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(bad(flag, &v, "want IP=NAME"));
            }
            pod.hosts_entries.push((ip, name.to_owned()));
        }
        "volume" => {
            let v = value()?;
            pod.volumes
                .push(parse_volume(&v).map_err(|r| bad(flag, &v, r))?);
        }
        "notify" => pod.notify = boolean(flag, has_inline, value)?,
        "pull" => {
            let v = value()?;
            pod.pull = match v.as_str() {
                "missing" => Pull::Missing,
                "always" => Pull::Always,
                "never" => Pull::Never,
                _ => return Err(bad(flag, &v, "want missing, always or never")),
            };
        }
        "stop-timeout" => {
            let v = value()?;
            let s: u64 = v
                .trim_end_matches('s')
                .parse()
                .map_err(|_| bad(flag, &v, "want seconds"))?;
            pod.stop_timeout = Duration::from_secs(s);
        }
        "detach" | "d" => pod.detach = boolean(flag, has_inline, value)?,
        "no-overlay" => pod.no_overlay = boolean(flag, has_inline, value)?,
        "platform" => pod.platform = Some(value()?),
        _ => return limit_flag(pod, flag, has_inline, value),
    }
    Ok(true)
}

/// The limits and security flags of a pod; `Ok(false)` when `flag` is not one.
fn limit_flag(
    pod: &mut PodFlags,
    flag: &str,
    has_inline: bool,
    value: &mut dyn FnMut() -> Result<String, ArgsError>,
) -> Result<bool, ArgsError> {
    match flag {
        "memory" => {
            let v = value()?;
            pod.memory = Some(parse_bytes(&v).map_err(|r| bad(flag, &v, r))?);
        }
        "cpus" => {
            let v = value()?;
            let c: f64 = v.parse().map_err(|_| bad(flag, &v, "want a number"))?;
            if !(c > 0.0 && c <= 1024.0) {
                return Err(bad(flag, &v, "want a number above 0"));
            }
            pod.cpus = Some(c);
        }
        "pids-limit" => {
            let v = value()?;
            let n: i64 = v.parse().map_err(|_| bad(flag, &v, "want a number"))?;
            if n < 1 {
                return Err(bad(flag, &v, "want at least 1"));
            }
            pod.pids_limit = Some(n);
        }
        "readonly-rootfs" => pod.readonly_rootfs = boolean(flag, has_inline, value)?,
        "caps-retain" | "caps-remove" => {
            let v = value()?;
            let mut caps = Vec::new();
            for c in v.split(',') {
                let c = c.trim().to_ascii_uppercase();
                let c = if c.starts_with("CAP_") {
                    c
                } else {
                    format!("CAP_{c}")
                };
                if c.len() <= 4 || !c.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
                    return Err(bad(flag, &v, "want capability names"));
                }
                caps.push(c);
            }
            if flag == "caps-retain" {
                pod.caps_retain.extend(caps);
            } else {
                pod.caps_remove.extend(caps);
            }
        }
        "seccomp" => {
            let v = value()?;
            pod.seccomp = match v.as_str() {
                "default" => Seccomp::Default,
                "unconfined" => Seccomp::Unconfined,
                "" => return Err(bad(flag, &v, "want default, unconfined or a file")),
                f => Seccomp::File(f.into()),
            };
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// A boolean flag: bare means true, `=true`/`=false` as given.
fn boolean(
    flag: &str,
    has_inline: bool,
    value: &mut dyn FnMut() -> Result<String, ArgsError>,
) -> Result<bool, ArgsError> {
    if !has_inline {
        return Ok(true);
    }
    let v = value()?;
    match v.as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(flag, &v, "want true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<RunArgs, ArgsError> {
        parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn one_app() {
        let r = p("--net none --name web busybox --env A=1 -- echo hi").unwrap();
        assert_eq!(r.pod.net, vec!["none"]);
        assert_eq!(r.pod.name.as_deref(), Some("web"));
        assert_eq!(r.apps.len(), 1);
        assert_eq!(r.apps[0].image, "busybox");
        assert_eq!(r.apps[0].env, vec!["A=1"]);
        assert_eq!(r.apps[0].args, Some(vec!["echo".into(), "hi".into()]));
    }

    #[test]
    fn several_apps() {
        let r = p("a --name x -- sleep 1 --- b --exec /bin/true --- c d").unwrap();
        let images: Vec<_> = r.apps.iter().map(|a| a.image.as_str()).collect();
        assert_eq!(images, ["a", "b", "c", "d"]);
        assert_eq!(r.apps[0].name.as_deref(), Some("x"));
        assert_eq!(r.apps[0].args.as_ref().unwrap(), &["sleep", "1"]);
        assert_eq!(r.apps[1].exec.as_deref(), Some("/bin/true"));
        assert_eq!(r.pod.net, vec!["default"]);
    }

    #[test]
    fn args_may_hold_flags() {
        let r = p("a -- sh -c --name").unwrap();
        assert_eq!(r.apps[0].args.as_ref().unwrap(), &["sh", "-c", "--name"]);
        assert_eq!(r.apps[0].name, None);
    }

    #[test]
    fn errors() {
        assert!(matches!(p(""), Err(ArgsError::NoImage)));
        assert!(matches!(p("--net none"), Err(ArgsError::NoImage)));
        assert!(matches!(p("--bogus a"), Err(ArgsError::Unknown(_))));
        assert!(matches!(p("--exec x a"), Err(ArgsError::AppFlagFirst(_))));
        assert!(matches!(p("a --port"), Err(ArgsError::Missing(_))));
        assert!(p("--net host,default a").is_err());
        assert!(p("--port 99999:80 a").is_err());
        assert!(p("--volume rel/path:/x a").is_err());
        assert!(p("--volume /x:y a").is_err());
        assert!(p("--memory 1k a").is_err());
        assert!(p("--pull sometimes a").is_err());
    }

    #[test]
    fn flag_forms() {
        let r = p("--stage1=runc --detach --net=none,  a").unwrap_err();
        assert!(matches!(r, ArgsError::Value { .. }));
        let r = p("--stage1=runc --detach --readonly-rootfs=false a").unwrap();
        assert_eq!(r.pod.stage1, "runc");
        assert!(r.pod.detach && !r.pod.readonly_rootfs);
    }
}
