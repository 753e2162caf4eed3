//! Docker credential helpers: an auth file's `credHelpers` (per registry) or
//! `credsStore` (for all) name a program `docker-credential-NAME` that keeps the
//! secrets (a keychain, `pass`, secretservice). hoist runs its `get` command as Docker
//! and containers/image do: the registry's server URL on stdin, JSON
//! `{"ServerURL","Username","Secret"}` on stdout; "credentials not found" is no
//! credentials.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::auth::Credentials;
use super::RegistryError;

/// The helper `doc` names for `host`, if any: `credHelpers[host]` first, then
/// `credsStore`.
pub fn helper_for<'d>(
    doc: &'d Value,
    host: &str,
    normalize: impl Fn(&str) -> String,
) -> Option<&'d str> {
    let per_host = doc
        .get("credHelpers")
        .and_then(Value::as_object)
        .and_then(|m| m.iter().find(|(k, _)| normalize(k) == host))
        .and_then(|(_, v)| v.as_str());
    per_host
        .or_else(|| doc.get("credsStore").and_then(Value::as_str))
        .filter(|h| !h.is_empty())
}

/// Asks helper `name` for the credentials of `host` (read from the file `path`).
pub fn get(name: &str, host: &str, path: &Path) -> Result<Option<Credentials>, RegistryError> {
    let bad = |reason: String| RegistryError::BadCredentials {
        host: host.to_owned(),
        path: path.into(),
        reason,
    };
    if name.contains('/') {
        return Err(bad(format!(
            "credential helper `{name}` is not a plain name"
        )));
    }
    let program = format!("docker-credential-{name}");
    // Docker Hub's credentials are filed under the v1 index URL, as Docker writes them.
    let server = if host == "docker.io" {
        "https://index.docker.io/v1/"
    } else {
        host
    };
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| bad(format!("run `{program}`: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading makes this fail; its status says more.
        let _ = stdin.write_all(server.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| bad(format!("run `{program}`: {e}")))?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        if text.contains("credentials not found") {
            return Ok(None);
        }
        return Err(bad(format!("`{program} get` failed: {}", text.trim())));
    }
    #[derive(serde::Deserialize)]
    struct Reply {
        #[serde(rename = "Username", default)]
        username: String,
        #[serde(rename = "Secret", default)]
        secret: String,
    }
    let r: Reply = serde_json::from_slice(&out.stdout)
        .map_err(|e| bad(format!("`{program} get` printed no credentials JSON: {e}")))?;
    if r.username == "<token>" {
        return Err(bad(format!(
            "`{program}` holds an identity token, which hoist does not use (log in with a password)"
        )));
    }
    if r.username.is_empty() && r.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials {
        username: r.username,
        password: r.secret,
    }))
}
