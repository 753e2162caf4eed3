//! A real registry for one test: `docker-registry serve` on 127.0.0.1 and a port the
//! kernel picked, its storage, config, htpasswd file and certificates in a scratch
//! directory; killed and removed on drop. Images go in with `skopeo copy`.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::scratch;
use crate::support::{require, run_tool, s, Hoist};

pub const USER: &str = "hoist";
pub const PASSWORD: &str = "s3cret-pw";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Plain HTTP, anonymous.
    Plain,
    /// Plain HTTP with htpasswd Basic auth (USER / PASSWORD).
    Htpasswd,
    /// HTTPS with a certificate from a CA the test made.
    Tls,
    /// HTTPS that also wants a client certificate signed by that CA.
    MutualTls,
}

impl Kind {
    fn tls(self) -> bool {
        matches!(self, Kind::Tls | Kind::MutualTls)
    }
}

pub struct Registry {
    pub tmp: tempfile::TempDir,
    pub port: u16,
    pub kind: Kind,
    child: Child,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

impl Registry {
    pub fn start(kind: Kind) -> Registry {
        require("docker-registry", "docker-registry");
        let tmp = scratch("registry");
        if kind == Kind::Htpasswd {
            let h = require("htpasswd", "apache2-utils");
            let line = run_tool(&h, &["-Bbn", USER, PASSWORD]);
            std::fs::write(tmp.path().join("htpasswd"), line).expect("write htpasswd");
        }
        if kind.tls() {
            make_certs(tmp.path(), kind == Kind::MutualTls);
        }
        // The port is free when picked; another process may take it before the
        // registry binds it, so a registry that dies at once is started again.
        for _ in 0..5 {
            let port = free_port();
            let config = tmp.path().join("config.yml");
            std::fs::write(&config, config_yaml(tmp.path(), port, kind)).expect("write config");
            let log = std::fs::File::create(tmp.path().join("registry.log")).expect("log file");
            let mut child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log file"))
                .stderr(log)
                .spawn()
                .expect("spawn docker-registry");
            if wait_ready(&mut child, port, tmp.path()) {
                let reg = Registry {
                    tmp,
                    port,
                    kind,
                    child,
                };
                // An empty registries.conf, so that the host's never counts.
                std::fs::write(reg.conf(), "").expect("write registries.conf");
                if kind.tls() {
                    let d = reg.certs_dir().join(reg.host());
                    std::fs::create_dir_all(&d).expect("make certs.d");
                    std::fs::copy(reg.ca(), d.join("ca.crt")).expect("copy the CA");
                    if kind == Kind::MutualTls {
                        for f in ["client.cert", "client.key"] {
                            std::fs::copy(reg.tmp.path().join(f), d.join(f))
                                .expect("copy the client certificate");
                        }
                    }
                }
                return reg;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("docker-registry did not start");
    }

    pub fn log(&self) -> String {
        read_log(self.tmp.path())
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `docker://127.0.0.1:PORT/NAME`
    pub fn url(&self, name: &str) -> String {
        format!("docker://{}/{name}", self.host())
    }

    /// The certs.d directory hoist is given (`--certs-dir`) for a TLS registry.
    pub fn certs_dir(&self) -> PathBuf {
        self.tmp.path().join("certs.d")
    }

    /// The (empty) registries.conf hoist is given.
    pub fn conf(&self) -> PathBuf {
        self.tmp.path().join("registries.conf")
    }

    /// The CA certificate of a TLS registry.
    pub fn ca(&self) -> PathBuf {
        self.tmp.path().join("ca.crt")
    }

    /// The flags hoist needs to reach this registry (and nothing of the host's).
    pub fn flags(&self) -> Vec<String> {
        let mut v = vec!["--registries-conf".to_owned(), s(&self.conf()).to_owned()];
        match self.kind {
            Kind::Plain | Kind::Htpasswd => {
                v.extend(["--insecure-registry".to_owned(), self.host()]);
            }
            Kind::Tls | Kind::MutualTls => {
                v.extend(["--certs-dir".to_owned(), s(&self.certs_dir()).to_owned()]);
            }
        }
        v
    }

    /// `skopeo copy SRC docker://HOST/DEST` with what this registry needs, plus `extra`.
    pub fn push(&self, src: &str, dest: &str, extra: &[&str]) {
        let skopeo = require("skopeo", "skopeo");
        let mut args: Vec<String> = vec!["copy".into(), "--quiet".into()];
        match self.kind {
            Kind::Tls | Kind::MutualTls => {
                let d = self.certs_dir().join(self.host());
                args.push(format!("--dest-cert-dir={}", s(&d)));
            }
            _ => args.push("--dest-tls-verify=false".into()),
        }
        if self.kind == Kind::Htpasswd {
            args.push(format!("--dest-creds={USER}:{PASSWORD}"));
        }
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        args.push(src.to_owned());
        args.push(self.url(dest));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        run_tool(&skopeo, &argv);
    }

    /// Where the registry keeps blob `digest` on disk.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        self.tmp
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

fn read_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default()
}

/// Waits until the registry accepts connections; false when it exited first.
fn wait_ready(child: &mut Child, port: u16, dir: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "docker-registry on port {port} not ready after 20 s: {}",
        read_log(dir)
    );
}

fn config_yaml(dir: &Path, port: u16, kind: Kind) -> String {
    let mut c = format!(
        "version: 0.1\nlog: {{level: error, accesslog: {{disabled: true}}}}\n\
         storage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\n\
         http:\n  addr: 127.0.0.1:{port}\n",
        s(&dir.join("data"))
    );
    if kind.tls() {
        c.push_str(&format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            s(&dir.join("server.crt")),
            s(&dir.join("server.key"))
        ));
        if kind == Kind::MutualTls {
            c.push_str(&format!("    clientcas: [{}]\n", s(&dir.join("ca.crt"))));
        }
    }
    if kind == Kind::Htpasswd {
        c.push_str(&format!(
            "auth: {{htpasswd: {{realm: hoist-test, path: {}}}}}\n",
            s(&dir.join("htpasswd"))
        ));
    }
    c
}

/// A CA and a server certificate for 127.0.0.1 signed by it (openssl, P-256), and with
/// `client`, a client certificate signed by it (client.cert, client.key).
fn make_certs(dir: &Path, client: bool) {
    let openssl = require("openssl", "openssl");
    let p = |n: &str| s(&dir.join(n)).to_owned();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    let (ca_key, ca_crt) = (p("ca.key"), p("ca.crt"));
    ca.extend(["-keyout", &ca_key, "-out", &ca_crt, "-days", "2"]);
    ca.extend(["-subj", "/CN=hoist test CA"]);
    run_tool(&openssl, &ca);
    // A key and a certificate for `subject`, signed by the CA, with `ext` extensions.
    let signed = |name: &str, cert: &str, subject: &str, ext: &str| {
        let (key, csr, cnf, crt) = (
            p(&format!("{name}.key")),
            p(&format!("{name}.csr")),
            p(&format!("{name}.cnf")),
            p(cert),
        );
        std::fs::write(&cnf, ext).expect("write extensions");
        let mut req = vec!["req"];
        req.extend(ec);
        req.extend(["-keyout", &key, "-out", &csr, "-subj", subject]);
        run_tool(&openssl, &req);
        let mut sign = vec![
            "x509", "-req", "-in", &csr, "-CA", &ca_crt, "-CAkey", &ca_key,
        ];
        sign.extend([
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "2",
            "-extfile",
            &cnf,
        ]);
        run_tool(&openssl, &sign);
    };
    signed(
        "server",
        "server.crt",
        "/CN=127.0.0.1",
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    );
    if client {
        signed(
            "client",
            "client.cert",
            "/CN=hoist test client",
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n",
        );
    }
}

/// hoist against a private store, with no credentials or registry settings of the host's
/// reaching it (HOME, XDG_RUNTIME_DIR and REGISTRY_AUTH_FILE point into the scratch
/// dir, proxies are off).
pub fn hoist(prefix: &str) -> Hoist {
    Hoist::new(prefix)
}

/// hoist's command line for `reg`, with isolation from the host's files.
pub fn command(h: &Hoist, reg: &Registry, args: &[&str]) -> Command {
    let mut c = h.command();
    isolate(&mut c, h);
    c.args(reg.flags());
    c.args(args);
    c
}

/// Points every place hoist looks for credentials into the test's scratch dir.
pub fn isolate(c: &mut Command, h: &Hoist) {
    let home = h.path("home");
    let run = h.path("run");
    std::fs::create_dir_all(&home).expect("make home");
    std::fs::create_dir_all(&run).expect("make run dir");
    c.env("HOME", &home)
        .env("XDG_RUNTIME_DIR", &run)
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("DOCKER_CONFIG");
    for v in [
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "all_proxy",
    ] {
        c.env_remove(v);
    }
}

/// Runs `cmd`; returns (status code, stdout, stderr).
pub fn output(mut cmd: Command) -> (Option<i32>, String, String) {
    let out = cmd.output().expect("spawn hoist");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `hoist fetch ARGS` against `reg`, which must succeed; returns the digest printed last.
pub fn fetch_ok(h: &Hoist, reg: &Registry, args: &[&str]) -> String {
    let mut all = vec!["fetch"];
    all.extend_from_slice(args);
    let (code, out, err) = output(command(h, reg, &all));
    assert_eq!(
        code,
        Some(0),
        "hoist {all:?} failed: {err}\nregistry log: {}",
        reg.log()
    );
    // No progress bars, no chatter: stderr is not a terminal here.
    assert_eq!(err, "", "hoist {all:?} wrote to stderr");
    out.lines().last().unwrap_or_default().to_owned()
}

/// `hoist ARGS` against `reg`, which must fail with status 1 and one line on stderr.
pub fn hoist_fails(h: &Hoist, reg: &Registry, args: &[&str]) -> String {
    let (code, _, err) = output(command(h, reg, args));
    assert_eq!(
        code,
        Some(1),
        "hoist {args:?} should fail with status 1: {err}"
    );
    assert!(
        err.starts_with("hoist: ") && err.lines().count() == 1,
        "hoist {args:?}: want one line `hoist: …` on stderr, got {err:?}"
    );
    err.trim_end().to_owned()
}
