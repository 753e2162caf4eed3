//! `hoist fetch docker://…`, `hoist login` and `hoist logout` against a real registry:
//! Debian's `docker-registry` started by each test on 127.0.0.1 with an ephemeral port
//! and its own storage (plain HTTP, htpasswd Basic auth, TLS with a CA the test makes),
//! images pushed into it with skopeo: busybox (`make image`), a multi-layer image with
//! whiteouts, a zstd one, a Docker schema 2 one, a manifest list of two platforms.
//! Error cases against the real registry (unknown repository and tag, missing and wrong
//! credentials, a refused connection, a blob corrupted on the registry's disk, a
//! registry that stops mid-blob) each fail with one clear line, status 1, and leave the
//! store exactly as it was.
//!
//! Network traffic stays on loopback. Registries and proxies are stopped and their
//! files removed when a test ends, passed or failed (Drop guards).

mod common;

#[path = "images/support.rs"]
mod support;

#[path = "registry/server.rs"]
mod server;

#[path = "registry/layouts.rs"]
mod layouts;

#[path = "registry/proxy.rs"]
mod proxy;

#[path = "registry/gateway.rs"]
mod gateway;

#[path = "registry/auth.rs"]
mod auth;
#[path = "registry/errors.rs"]
mod errors;
#[path = "registry/fetch.rs"]
mod fetch;
#[path = "registry/tls.rs"]
mod tls;
