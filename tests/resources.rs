//! hoist-runtime's resource management end to end, as root, checked in the kernel's
//! own files and from inside the container: linux.resources (memory, pids, cpu,
//! cpuset, devices) applied at create, `update`, `pause`/`resume`, `events`, `ps`,
//! `exec`, and the same limits with a controller moved to cgroup v2.
//!
//! The runtime is `$HOIST_RUNTIME` (`/usr/sbin/runc` checks the tests themselves),
//! else the hoist-runtime cargo built. Every test has its own bundle (a copy of the
//! busybox image from `make image`), its own `--root`, a unique container id and a
//! unique cgroupsPath `/hoist-resources/<id>`; `support::Ctr` removes all of it on
//! drop, so a failing test tidies up as well.

mod common;

#[path = "resources/cgroup_v2.rs"]
mod cgroup_v2;
#[path = "resources/cpu.rs"]
mod cpu;
#[path = "resources/devices.rs"]
mod devices;
#[path = "resources/exec.rs"]
mod exec;
#[path = "resources/exec_tty.rs"]
mod exec_tty;
#[path = "resources/freezer.rs"]
mod freezer;
#[path = "resources/memory.rs"]
mod memory;
#[path = "resources/pids.rs"]
mod pids;
#[path = "resources/support.rs"]
mod support;
#[path = "resources/update.rs"]
mod update;
