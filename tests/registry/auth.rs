//! A registry with htpasswd Basic auth: no credentials and wrong ones are refused with
//! errors that say which; `hoist login` checks before it saves (auth.json, 0600) and
//! `logout` removes; credentials skopeo wrote are read through `$REGISTRY_AUTH_FILE`,
//! and skopeo reads what hoist wrote.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use crate::gateway::Gateway;
use crate::server::{self, command, fetch_ok, hoist_fails, output, Kind, Registry, PASSWORD, USER};
use crate::support::*;

fn registry() -> Registry {
    let reg = Registry::start(Kind::Htpasswd);
    reg.push(
        &format!("oci:{}:latest", s(&busybox_layout())),
        "busybox:latest",
        &[],
    );
    reg
}

/// `hoist [--authfile FILE] login -u USER --password-stdin HOST` fed `password`.
fn login(
    h: &Hoist,
    reg: &Registry,
    authfile: &str,
    password: &str,
) -> (Option<i32>, String, String) {
    let c = command(
        h,
        reg,
        &[
            "--authfile",
            authfile,
            "login",
            "--username",
            USER,
            "--password-stdin",
            &reg.host(),
        ],
    );
    with_stdin(c, password)
}

/// Runs `c` with `input` and a newline on its stdin; (status code, stdout, stderr).
fn with_stdin(mut c: std::process::Command, input: &str) -> (Option<i32>, String, String) {
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn hoist");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{input}\n").as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait for hoist");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn no_credentials_and_wrong_ones() {
    let reg = registry();
    let h = server::hoist("reg-auth");
    let err = hoist_fails(&h, &reg, &["fetch", &reg.url("busybox")]);
    assert!(
        err.ends_with(&format!(
            "registry `{0}`: authentication required (log in with `hoist login {0}`)",
            reg.host()
        )),
        "{err}"
    );
    let wrong = h.path("wrong.json");
    let b64 = |s: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(s)
    };
    std::fs::write(
        &wrong,
        serde_json::json!({"auths": {reg.host(): {"auth": b64(&format!("{USER}:nope"))}}})
            .to_string(),
    )
    .expect("test setup");
    let err = hoist_fails(
        &h,
        &reg,
        &["--authfile", s(&wrong), "fetch", &reg.url("busybox")],
    );
    assert!(
        err.ends_with(&format!("wrong credentials for {}", reg.host())),
        "{err}"
    );
    assert!(h.names().is_empty());
}

#[test]
fn login_fetch_logout() {
    let reg = registry();
    let h = server::hoist("reg-login");
    let file = h.path("auth/auth.json");
    let f = s(&file);

    let (code, _, err) = login(&h, &reg, f, "wrong");
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("wrong credentials for {}", reg.host())),
        "{err}"
    );
    assert!(!file.exists(), "nothing saved for wrong credentials");

    let (code, out, err) = login(&h, &reg, f, PASSWORD);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), "Login Succeeded!");
    let mode = std::fs::metadata(&file)
        .expect("auth.json")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("JSON");
    assert!(doc["auths"][reg.host()]["auth"].is_string(), "{doc}");

    assert_eq!(
        fetch_ok(&h, &reg, &["--authfile", f, &reg.url("busybox")]),
        busybox_digest()
    );
    // skopeo reads the file hoist wrote.
    let skopeo = require("skopeo", "skopeo");
    run_tool(
        &skopeo,
        &[
            "inspect",
            "--tls-verify=false",
            "--authfile",
            f,
            &reg.url("busybox"),
        ],
    );

    let (code, out, err) = output(command(&h, &reg, &["--authfile", f, "logout", &reg.host()]));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("Removed login credentials"), "{out}");
    let err = hoist_fails(
        &h,
        &reg,
        &["--authfile", f, "fetch", &reg.url("busybox:latest")],
    );
    assert!(err.contains("authentication required"), "{err}");
    let err = hoist_fails(&h, &reg, &["--authfile", f, "logout", &reg.host()]);
    assert!(
        err.contains(&format!("not logged in to `{}`", reg.host())),
        "{err}"
    );
}

#[test]
fn credentials_skopeo_wrote_through_registry_auth_file() {
    let reg = registry();
    let h = server::hoist("reg-skopeo-login");
    let file = h.path("skopeo-auth.json");
    let skopeo = require("skopeo", "skopeo");
    run_tool(
        &skopeo,
        &[
            "login",
            "--tls-verify=false",
            "--authfile",
            s(&file),
            "--username",
            USER,
            "--password",
            PASSWORD,
            &reg.host(),
        ],
    );
    let mut c = command(&h, &reg, &["fetch", &reg.url("busybox")]);
    c.env("REGISTRY_AUTH_FILE", &file);
    let (code, out, err) = output(c);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(last_line(&out), busybox_digest());
}

/// A plain registry with busybox behind a token gateway, and hoist for it.
struct Bearer {
    gw: Gateway,
    reg: Registry,
    h: Hoist,
}

impl Bearer {
    fn start(prefix: &str, open_ping: bool) -> Bearer {
        let reg = Registry::start(Kind::Plain);
        reg.push(
            &format!("oci:{}:latest", s(&busybox_layout())),
            "busybox:latest",
            &[],
        );
        Bearer {
            gw: Gateway::start_with(reg.port, open_ping),
            reg,
            h: server::hoist(prefix),
        }
    }

    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut c = self.h.command();
        crate::server::isolate(&mut c, &self.h);
        c.args(["--registries-conf", s(&self.reg.conf())]);
        c.args(["--insecure-registry", &self.gw.host()]);
        c.args(args);
        c
    }

    fn url(&self) -> String {
        format!("docker://{}/busybox", self.gw.host())
    }

    /// Credentials for the gateway, written as podman writes them.
    fn write_auth(&self, file: &std::path::Path, password: &str) {
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{password}"));
        let doc = serde_json::json!({"auths": {self.gw.host(): {"auth": auth}}});
        std::fs::write(file, doc.to_string()).expect("test setup");
    }
}

#[test]
fn bearer_login_and_refusals() {
    let b = Bearer::start("reg-bearer-login", false);
    let (code, _, err) = output(b.command(&["fetch", &b.url()]));
    assert_eq!(code, Some(1), "{err}");
    let host = b.gw.host();
    assert!(
        err.contains(&format!("registry `{host}`: authentication required")),
        "{err}"
    );

    // `hoist login` checks the password at the realm before it saves anything.
    let file = b.h.path("auth.json");
    let f = s(&file);
    let login = |pw: &str| {
        let args = [
            "--authfile",
            f,
            "login",
            "-u",
            USER,
            "--password-stdin",
            &host,
        ];
        with_stdin(b.command(&args), pw)
    };
    let (code, _, err) = login("wrong");
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("wrong credentials for {host}")),
        "{err}"
    );
    assert!(!file.exists());
    let (code, _, err) = login(PASSWORD);
    assert_eq!(code, Some(0), "{err}");
    assert!(file.exists());

    b.write_auth(&file, "wrong");
    let (code, _, err) = output(b.command(&["--authfile", f, "fetch", &b.url()]));
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("wrong credentials for {host}")),
        "{err}"
    );
    assert!(b.h.names().is_empty());
}

#[test]
fn bearer_tokens_cached_per_scope_and_redirects_without_credentials() {
    use std::sync::atomic::Ordering::Relaxed;
    // The ping is let through: the challenge is learnt from the manifest's 401.
    let b = Bearer::start("reg-bearer", true);
    let file = b.h.path("auth.json");
    b.write_auth(&file, PASSWORD);
    let (code, out, err) = output(b.command(&["--authfile", s(&file), "fetch", &b.url()]));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(last_line(&out), busybox_digest());
    let c = &b.gw.counters;
    assert_eq!(
        c.tokens.load(Relaxed),
        1,
        "one token for the repository's pull scope, used for the manifest and every blob"
    );
    assert!(
        c.storage_requests.load(Relaxed) >= 2,
        "config and layer redirected"
    );
    assert!(
        !c.storage_saw_auth.load(Relaxed),
        "the Authorization header must not follow a redirect"
    );
}

#[test]
fn docker_config_and_its_credential_helpers() {
    let reg = registry();
    let h = server::hoist("reg-helper");
    // isolate() makes HOME the scratch dir's home/: Docker's config.json lives there.
    let docker = h.path("home/.docker");
    std::fs::create_dir_all(&docker).expect("test setup");
    let bin = h.path("bin");
    std::fs::create_dir_all(&bin).expect("test setup");
    let helper = |name: &str, knows: bool| {
        let reply = if knows {
            format!(
                "[ \"$server\" = {} ] && {{ printf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}' \"$server\"; exit 0; }}\n",
                reg.host()
            )
        } else {
            String::new()
        };
        let script = format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread -r server || true\n{reply}\
             echo 'credentials not found in native keychain'\nexit 1\n"
        );
        let path = bin.join(format!("docker-credential-{name}"));
        std::fs::write(&path, script).expect("write the helper");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("make it executable");
    };
    helper("knows", true);
    helper("forgot", false);
    let path = format!("{}:{}", s(&bin), std::env::var("PATH").unwrap_or_default());
    let fetch = |config: serde_json::Value| {
        std::fs::write(docker.join("config.json"), config.to_string()).expect("test setup");
        let mut c = command(&h, &reg, &["fetch", &reg.url("busybox")]);
        c.env("PATH", &path);
        output(c)
    };
    // Docker leaves an empty entry in `auths` for what its store keeps.
    let (code, out, err) = fetch(serde_json::json!({
        "auths": {reg.host(): {}},
        "credsStore": "knows",
    }));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(last_line(&out), busybox_digest());
    // A per-registry helper comes first; one that has nothing means no credentials.
    let (code, _, err) = fetch(serde_json::json!({
        "credHelpers": {reg.host(): "forgot"},
        "credsStore": "knows",
    }));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("authentication required"), "{err}");
    // A helper that is not installed is named.
    let (code, _, err) = fetch(serde_json::json!({"credsStore": "missing"}));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("docker-credential-missing"), "{err}");
}
