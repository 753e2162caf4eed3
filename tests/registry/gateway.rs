//! A token-auth gateway in front of a plain registry, for the Bearer flow that
//! docker-registry cannot be set up for without a JWT issuer: `/v2/…` answers 401 with
//! `WWW-Authenticate: Bearer realm=…/token,service=…,scope=…` unless the request carries
//! the token the realm issued for the repository's pull scope; `/token` issues tokens
//! (as `access_token`, the OAuth2 spelling) for USER/PASSWORD only, and counts them.
//! Authorised requests are passed to the registry; blob requests are instead redirected
//! (307) to a second listener, "storage", which records whether an Authorization
//! header reached it and then passes them on. One request per connection. Everything
//! stays on 127.0.0.1; the listeners stop on drop.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine as _;

use crate::server::{PASSWORD, USER};

#[derive(Default)]
pub struct Counters {
    pub tokens: AtomicUsize,
    pub storage_requests: AtomicUsize,
    pub storage_saw_auth: AtomicBool,
}

pub struct Gateway {
    pub port: u16,
    pub counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Gateway {
    pub fn start(upstream: u16) -> Gateway {
        Self::start_with(upstream, false)
    }

    /// With `open_ping`, `/v2/` answers 200 to anyone: the challenge comes only with
    /// the first request for a repository.
    pub fn start_with(upstream: u16, open_ping: bool) -> Gateway {
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (front, port) = listen();
        let (storage, storage_port) = listen();
        let mut threads = Vec::new();
        {
            let (c, s) = (counters.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                serve_loop(&front, &s, |req, conn| {
                    let ports = Ports {
                        front: port,
                        storage: storage_port,
                        upstream,
                    };
                    front_request(req, conn, &ports, open_ping, &c);
                });
            }));
        }
        {
            let (c, s) = (counters.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                serve_loop(&storage, &s, |req, conn| {
                    c.storage_requests.fetch_add(1, Ordering::Relaxed);
                    if req.headers.contains_key("authorization") {
                        c.storage_saw_auth.store(true, Ordering::Relaxed);
                    }
                    let path = req.path.strip_prefix("/storage").unwrap_or(&req.path);
                    forward(&req, path, conn, upstream);
                });
            }));
        }
        Gateway {
            port,
            counters,
            stop,
            threads,
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

fn listen() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind the gateway");
    let port = l.local_addr().expect("addr").port();
    l.set_nonblocking(true).expect("nonblocking");
    (l, port)
}

pub struct Request {
    pub path: String,
    pub headers: HashMap<String, String>,
}

fn serve_loop(l: &TcpListener, stop: &AtomicBool, handle: impl Fn(Request, &mut TcpStream)) {
    while !stop.load(Ordering::Relaxed) {
        let Ok((mut conn, _)) = l.accept() else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        let _ = conn.set_nonblocking(false);
        let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
        if let Some(req) = read_request(&mut conn) {
            handle(req, &mut conn);
        }
        let _ = conn.shutdown(std::net::Shutdown::Both);
    }
}

fn read_request(conn: &mut TcpStream) -> Option<Request> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 64 << 10 || conn.read(&mut b).ok()? == 0 {
            return None;
        }
        // A TLS handshake (hoist tries HTTPS first on an insecure registry): answer
        // as Go's servers do, at once, instead of waiting for a request line.
        if head.is_empty() && !b[0].is_ascii_uppercase() {
            respond(conn, "400 Bad Request", &[], "");
            return None;
        }
        head.push(b[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?.to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some(Request { path, headers })
}

fn respond(conn: &mut TcpStream, status: &str, extra: &[(&str, String)], body: &str) {
    let mut r = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in extra {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str("\r\n");
    r.push_str(body);
    let _ = conn.write_all(r.as_bytes());
}

/// Passes a GET to the registry and its answer back.
fn forward(req: &Request, path: &str, conn: &mut TcpStream, upstream: u16) {
    let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return respond(conn, "502 Bad Gateway", &[], "");
    };
    let mut head =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{upstream}\r\nConnection: close\r\n");
    if let Some(a) = req.headers.get("accept") {
        head.push_str(&format!("Accept: {a}\r\n"));
    }
    head.push_str("\r\n");
    if up.write_all(head.as_bytes()).is_ok() {
        let _ = std::io::copy(&mut up, conn);
    }
}

fn query_param(path: &str, name: &str) -> Option<String> {
    let q = path.split_once('?')?.1;
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.replace("%3A", ":").replace("%2F", "/"))
    })
}

struct Ports {
    front: u16,
    storage: u16,
    upstream: u16,
}

fn front_request(req: Request, conn: &mut TcpStream, ports: &Ports, open_ping: bool, c: &Counters) {
    let (storage_port, upstream) = (ports.storage, ports.upstream);
    let realm = format!("http://127.0.0.1:{}/token", ports.front);
    if req.path.starts_with("/token") {
        let want = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
        );
        if req.headers.get("authorization") != Some(&want) {
            return respond(
                conn,
                "401 Unauthorized",
                &[],
                r#"{"details":"bad credentials"}"#,
            );
        }
        c.tokens.fetch_add(1, Ordering::Relaxed);
        let scope = query_param(&req.path, "scope").unwrap_or_default();
        let body = serde_json::json!({"access_token": format!("tok {scope}"), "expires_in": 300});
        return respond(conn, "200 OK", &[], &body.to_string());
    }
    // /v2/NAME/{manifests,blobs,tags}/…
    let rest = req.path.strip_prefix("/v2/").unwrap_or_default();
    let name = ["/manifests/", "/blobs/", "/tags/"]
        .iter()
        .find_map(|k| rest.find(k).map(|i| &rest[..i]));
    let scope = name.map(|n| format!("repository:{n}:pull"));
    let authorised = match (&scope, req.headers.get("authorization")) {
        (Some(s), Some(a)) => *a == format!("Bearer tok {s}"),
        // The ping: any token of the realm will do.
        (None, Some(a)) => open_ping || a.starts_with("Bearer tok "),
        (None, None) => open_ping,
        _ => false,
    };
    if !authorised {
        let mut challenge = format!(r#"Bearer realm="{realm}",service="gateway-test""#);
        if let Some(s) = &scope {
            challenge.push_str(&format!(r#",scope="{s}""#));
        }
        return respond(
            conn,
            "401 Unauthorized",
            &[("WWW-Authenticate", challenge)],
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
        );
    }
    if rest.contains("/blobs/") {
        let location = format!("http://127.0.0.1:{storage_port}/storage{}", req.path);
        return respond(
            conn,
            "307 Temporary Redirect",
            &[("Location", location)],
            "",
        );
    }
    forward(&req, &req.path, conn, upstream);
}
