//! The pod manifest (`pod.json` in the pod directory): what `hoist cat-manifest` prints
//! and everything a supervisor needs to run the pod again: the flags, the stage1, and
//! each app's image (by digest), command, environment, user and working directory,
//! resolved from the image config by Docker's rules when the pod was prepared.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::args::{AppFlags, PodFlags};
use super::PodError;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodManifest {
    pub uuid: String,
    pub name: Option<String>,
    /// RFC 3339.
    pub created: String,
    /// The runtime binary that runs the apps.
    pub stage1: PathBuf,
    pub flags: PodFlags,
    pub apps: Vec<App>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct App {
    pub name: String,
    pub image: String,
    pub digest: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    /// `USER[:GROUP]` as names or numbers, resolved in the app's rootfs at run time.
    pub user: String,
    pub working_dir: String,
    /// The app speaks sd_notify (`--notify` after the image).
    #[serde(default)]
    pub notify: bool,
}

/// The parts of an image config an app starts from.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageConfig {
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub working_dir: Option<String>,
}

#[derive(Deserialize)]
struct ConfigFile {
    #[serde(default)]
    config: Option<ImageConfig>,
}

impl ImageConfig {
    /// The `config` object of an image config blob.
    pub fn parse(bytes: &[u8]) -> Result<ImageConfig, serde_json::Error> {
        Ok(serde_json::from_slice::<ConfigFile>(bytes)?
            .config
            .unwrap_or_default())
    }
}

/// The PATH an app gets when its image sets none (Docker's).
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl App {
    /// An app from its flags and its image config, by Docker's rules: `--exec` replaces
    /// the entrypoint and the arguments after `--` the cmd; the environment is the
    /// image's, then `--env-file`s, then `--env`s, later ones winning.
    pub fn resolve(
        name: String,
        flags: &AppFlags,
        image: &str,
        digest: &str,
        config: &ImageConfig,
    ) -> Result<App, PodError> {
        let mut args = match &flags.exec {
            Some(exec) => vec![exec.clone()],
            None => config.entrypoint.clone().unwrap_or_default(),
        };
        match &flags.args {
            Some(a) => args.extend(a.iter().cloned()),
            None if flags.exec.is_none() => args.extend(config.cmd.clone().unwrap_or_default()),
            None => {}
        }
        if args.is_empty() {
            return Err(PodError::NoCommand {
                image: image.to_owned(),
            });
        }
        let mut env: Vec<String> = config.env.clone().unwrap_or_default();
        for file in &flags.env_files {
            env.extend(read_env_file(file)?);
        }
        env.extend(flags.env.iter().cloned());
        let mut merged: Vec<String> = Vec::new();
        for kv in env {
            let key = kv.split('=').next().unwrap_or_default().to_owned();
            merged.retain(|e| e.split('=').next() != Some(key.as_str()));
            merged.push(kv);
        }
        if !merged.iter().any(|e| e.starts_with("PATH=")) {
            merged.insert(0, DEFAULT_PATH.to_owned());
        }
        let working_dir = flags
            .working_dir
            .clone()
            .or_else(|| config.working_dir.clone().filter(|w| !w.is_empty()))
            .unwrap_or_else(|| "/".into());
        if !working_dir.starts_with('/') {
            return Err(PodError::BadImageConfig {
                image: image.to_owned(),
                reason: format!("working dir `{working_dir}` is not absolute"),
            });
        }
        Ok(App {
            name,
            image: image.to_owned(),
            digest: digest.to_owned(),
            args,
            env: merged,
            user: flags
                .user
                .clone()
                .or_else(|| config.user.clone().filter(|u| !u.is_empty()))
                .unwrap_or_else(|| "0".into()),
            working_dir,
            notify: flags.notify,
        })
    }
}

/// `K=V` lines; blank lines and `#` comments skipped; a bare `K` takes hoist's value.
fn read_env_file(path: &Path) -> Result<Vec<String>, PodError> {
    let text = std::fs::read_to_string(path).map_err(|source| PodError::Io {
        what: format!("read env file `{}`", path.display()),
        source,
    })?;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.contains('=') {
            out.push(line.to_owned());
        } else if let Ok(v) = std::env::var(line) {
            out.push(format!("{line}={v}"));
        }
    }
    Ok(out)
}

/// An app name from an image name: its last path component without tag or digest.
pub fn default_app_name(image: &str) -> String {
    let base = image.rsplit('/').next().unwrap_or(image);
    let base = base.split(['@', ':']).next().unwrap_or(base);
    let name: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches('-');
    if name.is_empty() {
        "app".into()
    } else {
        name.into()
    }
}

/// Whether `name` can name an app or a pod (it becomes part of container IDs and paths).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !name.starts_with(['.', '-'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(json: &str) -> ImageConfig {
        ImageConfig::parse(json.as_bytes()).unwrap()
    }

    #[test]
    fn docker_rules() {
        let c = cfg(
            r#"{"config":{"Entrypoint":["/e"],"Cmd":["c"],"Env":["A=1","PATH=/p"],"WorkingDir":"/w","User":"nobody"}}"#,
        );
        let f = AppFlags::default();
        let a = App::resolve("x".into(), &f, "img", "sha256:0", &c).unwrap();
        assert_eq!(a.args, ["/e", "c"]);
        assert_eq!(a.env, ["A=1", "PATH=/p"]);
        assert_eq!((a.user.as_str(), a.working_dir.as_str()), ("nobody", "/w"));

        let f = AppFlags {
            args: Some(vec!["x".into()]),
            env: vec!["A=2".into()],
            ..AppFlags::default()
        };
        let a = App::resolve("x".into(), &f, "img", "sha256:0", &c).unwrap();
        assert_eq!(a.args, ["/e", "x"]);
        assert_eq!(a.env, ["PATH=/p", "A=2"]);

        let f = AppFlags {
            exec: Some("/bin/true".into()),
            ..AppFlags::default()
        };
        let a = App::resolve("x".into(), &f, "img", "sha256:0", &c).unwrap();
        assert_eq!(a.args, ["/bin/true"]);
    }

    #[test]
    fn defaults_and_errors() {
        let c = cfg(r#"{"config":{"Cmd":["sh"]}}"#);
        let a = App::resolve("x".into(), &AppFlags::default(), "i", "d", &c).unwrap();
        assert!(a.env[0].starts_with("PATH="));
        assert_eq!((a.user.as_str(), a.working_dir.as_str()), ("0", "/"));
        let e = App::resolve("x".into(), &AppFlags::default(), "i", "d", &cfg("{}"));
        assert!(matches!(e, Err(PodError::NoCommand { .. })));
    }

    #[test]
    fn names() {
        assert_eq!(
            default_app_name("docker.io/library/busybox:latest"),
            "busybox"
        );
        assert_eq!(default_app_name("localhost/My_App@sha256:ab"), "my-app");
        assert!(valid_name("web-1"));
        assert!(!valid_name("../x") && !valid_name("") && !valid_name("a/b"));
    }
}
