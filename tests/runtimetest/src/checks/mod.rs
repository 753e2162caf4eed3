//! The check groups: each reads one part of config.json and compares it with what the
//! process sees from inside the container. The harness may name the groups to run in
//! expect.json (`"checks": [...]`); by default all run.

mod kernel;
mod mounts;
mod paths;
mod process;
mod resources;
mod seccomp;

use serde_json::Value;

use crate::tap::Tap;

/// What the checker knows: the container's config.json, and what the harness expects
/// beyond it (expect.json, `Value::Null` when there is none).
pub struct Ctx {
    pub config: Value,
    pub expect: Value,
}

impl Ctx {
    /// The config value at a JSON pointer (`/process/cwd`).
    pub fn get(&self, ptr: &str) -> Option<&Value> {
        self.config.pointer(ptr).filter(|v| !v.is_null())
    }

    pub fn str_at(&self, ptr: &str) -> Option<&str> {
        self.get(ptr).and_then(Value::as_str)
    }

    pub fn bool_at(&self, ptr: &str) -> bool {
        self.get(ptr).and_then(Value::as_bool).unwrap_or(false)
    }

    /// The strings of a config array (missing or non-string entries are left out).
    pub fn strings(&self, ptr: &str) -> Vec<&str> {
        self.get(ptr)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    pub fn array(&self, ptr: &str) -> &[Value] {
        self.get(ptr)
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    /// Whether `linux.namespaces` lists a namespace of this type.
    pub fn has_namespace(&self, kind: &str) -> bool {
        self.array("/linux/namespaces")
            .iter()
            .any(|n| n.get("type").and_then(Value::as_str) == Some(kind))
    }
}

/// A group of checks by name.
pub struct Group {
    pub name: &'static str,
    pub run: fn(&Ctx, &mut Tap),
}

/// Every group, in the order they run.
pub const GROUPS: &[Group] = &[
    Group {
        name: "process",
        run: process::process,
    },
    Group {
        name: "user",
        run: process::user,
    },
    Group {
        name: "caps",
        run: process::capabilities,
    },
    Group {
        name: "rlimits",
        run: process::rlimits,
    },
    Group {
        name: "nnp",
        run: process::no_new_privileges,
    },
    Group {
        name: "oom",
        run: process::oom_score_adj,
    },
    Group {
        name: "uts",
        run: process::uts,
    },
    Group {
        name: "mounts",
        run: mounts::mounts,
    },
    Group {
        name: "root",
        run: mounts::root,
    },
    Group {
        name: "propagation",
        run: mounts::propagation,
    },
    Group {
        name: "devices",
        run: paths::devices,
    },
    Group {
        name: "default_devices",
        run: paths::default_devices,
    },
    Group {
        name: "masked",
        run: paths::masked,
    },
    Group {
        name: "readonly",
        run: paths::readonly,
    },
    Group {
        name: "sysctl",
        run: kernel::sysctl,
    },
    Group {
        name: "namespaces",
        run: kernel::namespaces,
    },
    Group {
        name: "idmaps",
        run: kernel::id_mappings,
    },
    Group {
        name: "timens",
        run: kernel::time_offsets,
    },
    Group {
        name: "cgroups",
        run: kernel::cgroups,
    },
    Group {
        name: "seccomp",
        run: seccomp::seccomp,
    },
    Group {
        name: "fds",
        run: seccomp::fds,
    },
    Group {
        name: "resources",
        run: resources::resources,
    },
    Group {
        name: "device_access",
        run: resources::device_access,
    },
    Group {
        name: "tty",
        run: resources::tty,
    },
];

/// Runs the groups `expect.checks` names (all when it is absent).
pub fn run_all(ctx: &Ctx, tap: &mut Tap) {
    let wanted: Option<Vec<&str>> = ctx
        .expect
        .get("checks")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect());
    if let Some(w) = &wanted {
        for name in w {
            if !GROUPS.iter().any(|g| g.name == *name) {
                tap.fail(
                    "expect.json checks",
                    &format!("unknown check group {name:?}"),
                );
            }
        }
    }
    for g in GROUPS {
        if wanted.as_ref().is_none_or(|w| w.contains(&g.name)) {
            (g.run)(ctx, tap);
        }
    }
}
