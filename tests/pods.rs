//! `hoist run` and the pod commands end to end, as root, with real containers: the
//! busybox image in a private store, each test with its own `--dir`, `--net-dir`,
//! CNI bridge and subnet (tests/pods/support.rs), cleaning up even when it fails.
//!
//! The behaviour tests run once per stage1: hoist-runtime (the one under test),
//! runc and crun (Debian's). crun needs hugetlb moved off the v2 mount of this hybrid
//! host while it runs, and every runtime that creates a cgroup meanwhile would put it
//! in that v1 hierarchy: so the crun variants (`crun_stage1_exclusive::…`) run on
//! their own, after everything else, in a second nextest run (`make test`); the first
//! run excludes them.

#![allow(clippy::unwrap_used)] // the behaviour tests are plain fns that macros call from #[test]s

mod common;

#[path = "pods/support.rs"]
mod support;

/// `stage1_tests!(name)` makes `name_hoist`, `name_runc` and `name_crun_host_global`,
/// each calling `name(stage1)`.
macro_rules! stage1_tests {
    ($($name:ident),* $(,)?) => {
        mod hoist_stage1 {
            $( #[test] fn $name() { super::$name("hoist") } )*
        }
        mod runc_stage1 {
            $( #[test] fn $name() { super::$name("runc") } )*
        }
        mod crun_stage1_exclusive {
            $( #[test] fn $name() { super::$name("crun") } )*
        }
    };
}

#[path = "pods/apps.rs"]
mod apps;
#[path = "pods/errors.rs"]
mod errors;
#[path = "pods/lifecycle.rs"]
mod lifecycle;
#[path = "pods/network.rs"]
mod network;
#[path = "pods/systemd.rs"]
mod systemd;
