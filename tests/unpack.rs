//! Layer unpacking and rendering end to end, as root (device nodes, ownership and
//! `trusted.*` xattrs need it; a test that needs root says "skipped" without it): the
//! layers real tools write (`basic`), the malicious-layer suite of issue 4
//! (`malicious`), overlay flattening (`render`), and a speed measurement against
//! `tar -x` (`speed`, ignored by default: `cargo test --release --test unpack --
//! --ignored --nocapture`).
//!
//! Every test has its own scratch dir with a sentinel directory beside the layers
//! directory, which the escapes aim at and which must stay untouched (`support`).

#[path = "unpack/basic.rs"]
mod basic;
#[path = "unpack/malicious.rs"]
mod malicious;
#[path = "unpack/render.rs"]
mod render;
#[path = "unpack/speed.rs"]
mod speed;
#[path = "unpack/support.rs"]
mod support;
