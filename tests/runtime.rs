//! hoist-runtime end to end, as root, the way its callers drive it: the lifecycle and
//! its state machine, bad input, the command line engines parse, the console socket,
//! hooks, and the container's process, mounts and cgroups checked from inside.
//!
//! The runtime is `$HOIST_RUNTIME` (`/usr/sbin/runc` checks the tests themselves),
//! else the hoist-runtime cargo built. Every test has its own bundle (a copy of the
//! busybox image from `make image`), its own `--root`, a unique container id and a
//! unique cgroupsPath `/hoist-test/<id>`; `support::Ctr` removes all of it on drop,
//! and the tests check that the runtime itself left nothing behind.

mod common;

#[path = "runtime/cgroups.rs"]
mod cgroups;
#[path = "runtime/cli.rs"]
mod cli;
#[path = "runtime/console.rs"]
mod console;
#[path = "runtime/errors.rs"]
mod errors;
#[path = "runtime/exec.rs"]
mod exec;
#[path = "runtime/hooks.rs"]
mod hooks;
#[path = "runtime/leftovers.rs"]
mod leftovers;
#[path = "runtime/lifecycle.rs"]
mod lifecycle;
#[path = "runtime/mounts.rs"]
mod mounts;
#[path = "runtime/process.rs"]
mod process;
#[path = "runtime/support.rs"]
mod support;
