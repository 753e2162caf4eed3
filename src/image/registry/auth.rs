//! Registry credentials, in the files users already have. Reading, the first file that
//! has an entry for the registry wins, searched as podman and skopeo search:
//! `--authfile` alone when given; else `$REGISTRY_AUTH_FILE`, the containers
//! `auth.json` (`$XDG_RUNTIME_DIR/containers/auth.json`, for root without
//! `XDG_RUNTIME_DIR` `/run/containers/0/auth.json`) and Docker's
//! `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`).
//! An entry is `"auths": {"HOST[:PORT][/NAMESPACE]": {"auth": base64("user:pass")}}`;
//! keys may carry a scheme (`https://index.docker.io/v1/`, as Docker writes them), and
//! a namespaced key matches the repositories under it before the bare host does.
//! Docker credential helpers (`credHelpers`, `credsStore`) are run as Docker runs them
//! (`helper`).
//!
//! `hoist login` writes (and `logout` removes) entries in `--authfile`, else
//! `$REGISTRY_AUTH_FILE`, else the containers auth.json: other keys of the file are
//! kept, the file is replaced atomically (temp file + rename) with mode 0600.

use std::fmt;
use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Map, Value};

use super::{helper, Options, RegistryError};

/// A user name and a password (or token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .finish()
    }
}

impl Credentials {
    /// The value of an `Authorization: Basic` header.
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    fn encoded(&self) -> String {
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.username, self.password))
    }
}

/// The containers auth.json of this user.
pub fn containers_auth_file() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("containers/auth.json"),
        _ => PathBuf::from(format!(
            "/run/containers/{}/auth.json",
            crate::sys::geteuid()
        )),
    }
}

/// Docker's config.json.
fn docker_config_file() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("config.json"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".docker/config.json"))
}

fn env_auth_file() -> Option<PathBuf> {
    std::env::var_os("REGISTRY_AUTH_FILE")
        .filter(|f| !f.is_empty())
        .map(PathBuf::from)
}

/// The files credentials are read from, in order.
pub fn search_path(opts: &Options) -> Vec<PathBuf> {
    if let Some(f) = &opts.authfile {
        return vec![f.clone()];
    }
    let mut v: Vec<PathBuf> = env_auth_file().into_iter().collect();
    v.push(containers_auth_file());
    v.extend(docker_config_file());
    v
}

/// The file `hoist login` and `logout` change.
pub fn login_file(opts: &Options) -> PathBuf {
    opts.authfile
        .clone()
        .or_else(env_auth_file)
        .unwrap_or_else(containers_auth_file)
}

/// The key a registry is filed under: Docker Hub's many names are `docker.io`, a
/// scheme and a trailing `/v1/`-style path of old Docker keys are dropped.
pub fn normalize_key(key: &str) -> String {
    let (had_scheme, rest) = match key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
    {
        Some(r) => (true, r),
        None => (false, key),
    };
    // With a scheme the key is a URL: only its host counts.
    let rest = if had_scheme {
        rest.split('/').next().unwrap_or_default()
    } else {
        rest.trim_end_matches('/')
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        h => h,
    };
    if path.is_empty() {
        host.to_owned()
    } else {
        format!("{host}/{path}")
    }
}

/// The credentials for `repository` (`HOST[:PORT]/PATH`) and the file they came from.
pub fn lookup(
    opts: &Options,
    repository: &str,
) -> Result<Option<(Credentials, PathBuf)>, RegistryError> {
    for path in search_path(opts) {
        let Some(doc) = read_file(&path, opts.authfile.is_some())? else {
            continue;
        };
        let host = repository.split('/').next().unwrap_or_default();
        let helper = helper::helper_for(&doc, host, normalize_key);
        let per_host = doc
            .get("credHelpers")
            .and_then(Value::as_object)
            .is_some_and(|m| m.keys().any(|k| normalize_key(k) == host));
        // A per-registry helper comes before the file's own entries; `credsStore`
        // after them (Docker leaves empty entries in `auths` for what it stored).
        if let (Some(h), true) = (helper, per_host) {
            if let Some(c) = helper::get(h, host, &path)? {
                return Ok(Some((c, path)));
            }
            continue;
        }
        if let Some(c) = find(&doc, repository, &path)? {
            return Ok(Some((c, path)));
        }
        if let Some(h) = helper {
            if let Some(c) = helper::get(h, host, &path)? {
                return Ok(Some((c, path)));
            }
        }
    }
    Ok(None)
}

/// Reads an auth file; a missing file is `None` unless it was named by the user.
fn read_file(path: &Path, required: bool) -> Result<Option<Value>, RegistryError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(None),
        Err(source) => {
            return Err(RegistryError::ReadFile {
                path: path.into(),
                source,
            })
        }
    };
    let doc: Value = serde_json::from_slice(&bytes).map_err(|e| RegistryError::Parse {
        path: path.into(),
        reason: e.to_string(),
    })?;
    Ok(Some(doc))
}

/// The entry of `doc` for `repository`: the longest namespace that matches, then the
/// host.
fn find(doc: &Value, repository: &str, path: &Path) -> Result<Option<Credentials>, RegistryError> {
    let Some(auths) = doc.get("auths").and_then(Value::as_object) else {
        return Ok(None);
    };
    let mut best: Option<(usize, &str, &Value)> = None;
    for (key, entry) in auths {
        let k = normalize_key(key);
        let matches = repository == k
            || repository
                .strip_prefix(k.as_str())
                .is_some_and(|rest| rest.starts_with('/'));
        if matches && best.is_none_or(|(len, _, _)| k.len() > len) {
            best = Some((k.len(), key, entry));
        }
    }
    let Some((_, key, entry)) = best else {
        return Ok(None);
    };
    let bad = |reason: &str| RegistryError::BadCredentials {
        host: key.to_owned(),
        path: path.into(),
        reason: reason.into(),
    };
    if let Some(auth) = entry.get("auth").and_then(Value::as_str) {
        if auth.is_empty() {
            return Ok(None);
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| bad("`auth` is not base64"))?;
        let raw = String::from_utf8(raw).map_err(|_| bad("`auth` is not UTF-8"))?;
        let (u, p) = raw
            .split_once(':')
            .ok_or_else(|| bad("`auth` is not user:password"))?;
        return Ok(Some(Credentials {
            username: u.to_owned(),
            password: p.to_owned(),
        }));
    }
    match (
        entry.get("username").and_then(Value::as_str),
        entry.get("password").and_then(Value::as_str),
    ) {
        (Some(u), Some(p)) => Ok(Some(Credentials {
            username: u.to_owned(),
            password: p.to_owned(),
        })),
        _ => Ok(None),
    }
}

/// Files `creds` for `host` in `path`, keeping everything else the file holds.
pub fn save(path: &Path, host: &str, creds: &Credentials) -> Result<(), RegistryError> {
    let mut doc = read_file(path, false)?.unwrap_or_else(|| Value::Object(Map::new()));
    let auths = auths_mut(&mut doc, path)?;
    // Drop other spellings of the same registry, so that the new entry is the one read.
    auths.retain(|k, _| normalize_key(k) != host);
    let mut entry = Map::new();
    entry.insert("auth".into(), Value::String(creds.encoded()));
    auths.insert(host.to_owned(), Value::Object(entry));
    write_atomic(path, &doc)
}

/// Removes the entry for `host` (every entry when `None`) from `path`.
pub fn remove(path: &Path, host: Option<&str>) -> Result<(), RegistryError> {
    let Some(mut doc) = read_file(path, false)? else {
        return match host {
            Some(h) => Err(RegistryError::NotLoggedIn {
                host: h.to_owned(),
                path: path.into(),
            }),
            None => Ok(()),
        };
    };
    let auths = auths_mut(&mut doc, path)?;
    match host {
        Some(h) => {
            let before = auths.len();
            auths.retain(|k, _| normalize_key(k) != h);
            if auths.len() == before {
                return Err(RegistryError::NotLoggedIn {
                    host: h.to_owned(),
                    path: path.into(),
                });
            }
        }
        None => auths.clear(),
    }
    write_atomic(path, &doc)
}

fn auths_mut<'d>(
    doc: &'d mut Value,
    path: &Path,
) -> Result<&'d mut Map<String, Value>, RegistryError> {
    let not_object = || RegistryError::Parse {
        path: path.into(),
        reason: "not a JSON object with an `auths` object".into(),
    };
    let obj = doc.as_object_mut().ok_or_else(not_object)?;
    obj.entry("auths")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(not_object)
}

/// Writes `doc` to `path` through a 0600 temp file in the same directory and a rename.
fn write_atomic(path: &Path, doc: &Value) -> Result<(), RegistryError> {
    let write_err = |source| RegistryError::WriteFile {
        path: path.into(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(write_err)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "auth.json".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        let mut bytes = serde_json::to_vec_pretty(doc).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(write_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn creds(u: &str, p: &str) -> Credentials {
        Credentials {
            username: u.into(),
            password: p.into(),
        }
    }

    #[test]
    fn keys_normalize() {
        assert_eq!(normalize_key("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(normalize_key("registry-1.docker.io"), "docker.io");
        assert_eq!(normalize_key("http://127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(normalize_key("quay.io/org/"), "quay.io/org");
    }

    #[test]
    fn finds_the_longest_namespace_then_the_host() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let doc = serde_json::json!({"auths": {
            "quay.io": {"auth": b64("host:h")},
            "quay.io/org": {"auth": b64("org:o")},
            "https://index.docker.io/v1/": {"auth": b64("hub:x:y")},
            "broken.io": {"auth": "***"},
        }});
        let p = Path::new("a.json");
        assert_eq!(
            find(&doc, "quay.io/org/app", p).unwrap(),
            Some(creds("org", "o"))
        );
        assert_eq!(
            find(&doc, "quay.io/other", p).unwrap(),
            Some(creds("host", "h"))
        );
        assert_eq!(
            find(&doc, "quay.io/organic", p).unwrap(),
            Some(creds("host", "h"))
        );
        assert_eq!(
            find(&doc, "docker.io/library/busybox", p).unwrap(),
            Some(creds("hub", "x:y"))
        );
        assert_eq!(find(&doc, "ghcr.io/x", p).unwrap(), None);
        let e = find(&doc, "broken.io/x", p).unwrap_err();
        assert!(e.to_string().contains("not base64"), "{e}");
    }

    #[test]
    fn save_and_remove_keep_other_content() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("sub/auth.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            r#"{"auths":{"other:1":{"auth":"eDp5"}},"credHelpers":{}}"#,
        )
        .unwrap();
        save(&path, "127.0.0.1:5000", &creds("u", "p")).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let opts = Options {
            authfile: Some(path.clone()),
            ..Options::default()
        };
        let (c, from) = lookup(&opts, "127.0.0.1:5000/app").unwrap().unwrap();
        assert_eq!((c, from), (creds("u", "p"), path.clone()));
        let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert!(doc["credHelpers"].is_object());
        assert!(doc["auths"]["other:1"].is_object());
        remove(&path, Some("127.0.0.1:5000")).unwrap();
        assert!(lookup(&opts, "127.0.0.1:5000/app").unwrap().is_none());
        let e = remove(&path, Some("127.0.0.1:5000")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("not logged in to `127.0.0.1:5000`"),
            "{e}"
        );
        remove(&path, None).unwrap();
        let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(doc["auths"], serde_json::json!({}));
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp file left");
    }

    #[test]
    fn a_named_authfile_must_exist() {
        let opts = Options {
            authfile: Some("/nonexistent/auth.json".into()),
            ..Options::default()
        };
        assert!(lookup(&opts, "x.io/y").is_err());
    }
}
