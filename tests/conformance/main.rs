//! The project's OCI conformance suite: one libtest-mimic trial per case, named after
//! the opencontainers/runtime-tools validation programs where one applies.
//!
//! - The runtime under test is `$HOIST_CONFORMANCE_RUNTIME`, else hoist-runtime
//!   (tests/common `runtime_bin()`, itself `$HOIST_RUNTIME` or the one cargo built).
//! - `$HOIST_CONFORMANCE_COMPARE=<path or name>` also runs every case against that
//!   peer (runc), prints a `case | runtime | peer` table at the end, and fails a case
//!   only where the runtime under test fails and the peer passes.
//! - Cases checked from inside run the static `runtimetest` checker
//!   (`$HOIST_RUNTIMETEST`, else target/release/runtimetest) as the container process.
//! - A case the host cannot run is ignored with its reason (listed as ignored, so
//!   nextest shows it as skipped), and says "skipped: why" on stderr when forced.
//!
//! Every case uses its own bundle and its own `--root`, and cleans up when dropped,
//! so that nextest can run each trial as a process of its own. Every case holds the
//! suite lock shared while it runs; a `cgroup_v2` case, which moves a controller
//! between cgroup v1 and v2, holds it alone (cgroup_v2.rs).

mod bundle;
mod cgroup_v2;
#[path = "../runtimetest/src/cgroupfs/mod.rs"]
mod cgroupfs;
mod cgroups;
mod commands;
#[path = "../common/mod.rs"]
mod common;
mod console;
mod errors;
mod exec;
mod harness;
mod hooks;
mod inside;
mod lifecycle;
mod namespaces;
mod resources;
mod seccomp;
mod update;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use libtest_mimic::{Arguments, Completion, Failed, Trial};

use harness::{CaseResult, Rt, Stop};

/// One conformance case.
#[derive(Clone, Copy)]
pub struct Case {
    pub name: &'static str,
    /// What the host must have; `Some(reason)` skips the case.
    pub needs: fn() -> Option<String>,
    pub run: fn(&Rt) -> CaseResult,
}

impl Case {
    pub fn new(name: &'static str, run: fn(&Rt) -> CaseResult) -> Self {
        Case {
            name,
            needs: || None,
            run,
        }
    }

    pub fn needs(self, needs: fn() -> Option<String>) -> Self {
        Case { needs, ..self }
    }

    /// Why the host cannot run this case, if it cannot.
    fn skip_reason(&self) -> Option<String> {
        // SAFETY: geteuid takes no arguments and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Some("the conformance suite needs root".into());
        }
        (self.needs)()
    }
}

fn all_cases() -> Vec<Case> {
    let mut v = lifecycle::cases();
    v.extend(errors::cases());
    v.extend(inside::cases());
    v.extend(namespaces::cases());
    v.extend(hooks::cases());
    v.extend(commands::cases());
    v.extend(exec::cases());
    v.extend(resources::cases());
    v.extend(update::cases());
    v.extend(seccomp::cases());
    v
}

/// runc 1.1.5's cgroupfs driver uses only the v1 hierarchies of a hybrid host: a
/// controller on the unified mount gets no limit ("cannot set … limit: container could
/// not join or create cgroup").
const RUNC_HYBRID: &str = "runc 1.1.5 sets no limits on a hybrid host's v2 mount";

/// Cases runc 1.1.5 (the reference here) fails, and why; each case's comment has the
/// details. The compare table marks them, so that a `FAIL` there reads as known.
const KNOWN_RUNC_FAILURES: &[(&str, &str)] = &[
    ("domainname", "runc 1.1.5 ignores domainname"),
    (
        "linux_rootfs_propagation_shared",
        "runc 1.1.5 leaves / private",
    ),
    (
        "linux_rootfs_propagation_unbindable",
        "runc 1.1.5 fails to bind the rootfs",
    ),
    (
        "linux_cgroups_cpu_burst_idle",
        "runc 1.1.5 ignores cpu.burst and cpu.idle",
    ),
    (
        "linux_cgroups_hugetlb",
        "runc 1.1.5 cannot set hugetlb on a hybrid host's v2 mount",
    ),
    (
        "linux_cgroups_relative_hugetlb",
        "runc 1.1.5 cannot set hugetlb on a hybrid host's v2 mount",
    ),
    ("linux_cgroups_hugetlb_cgroup_v2", RUNC_HYBRID),
    ("linux_cgroups_pids_cgroup_v2", RUNC_HYBRID),
    ("linux_cgroups_memory_cgroup_v2", RUNC_HYBRID),
    ("linux_cgroups_cpus_cgroup_v2", RUNC_HYBRID),
    ("linux_cgroups_blkio_cgroup_v2", RUNC_HYBRID),
    ("linux_cgroups_devices_cgroup_v2", RUNC_HYBRID),
    ("update_pids_cgroup_v2", RUNC_HYBRID),
    ("pause_resume_cgroup_v2", RUNC_HYBRID),
    ("linux_time_offsets", "time namespaces arrived in runc 1.2"),
    (
        "misc_props_invalid_version",
        "runc 1.1.5 does not check ociVersion",
    ),
    ("poststart", "runc 1.1.5 runs poststart hooks at create"),
    (
        "poststart_fail",
        "runc 1.1.5 runs poststart hooks at create and fails",
    ),
    (
        "poststop_fail_continue",
        "runc 1.1.5 stops at the first failing poststop hook",
    ),
];

/// How one case went against one runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Pass,
    Fail(String),
    Skip(String),
}

impl Verdict {
    fn word(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail(_) => "FAIL",
            Verdict::Skip(_) => "skip",
        }
    }
}

/// A runtime binary and the name the report gives it.
#[derive(Clone)]
struct Target {
    name: String,
    bin: PathBuf,
}

impl Target {
    fn new(bin: PathBuf) -> Self {
        let name = bin.file_name().map_or_else(
            || bin.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        Target { name, bin }
    }
}

/// Finds a program by name on $PATH (or takes a path as it is).
fn resolve(prog: &str) -> Result<PathBuf, String> {
    if prog.contains('/') {
        return Ok(PathBuf::from(prog));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("{prog} not found on $PATH"))
}

/// The runtime under test (resolved in the trial, so that `--list` needs no binary).
fn under_test() -> Result<Target, String> {
    match std::env::var("HOIST_CONFORMANCE_RUNTIME") {
        Ok(p) if !p.is_empty() => resolve(&p).map(Target::new),
        _ => catch_unwind(common::runtime_bin)
            .map(Target::new)
            .map_err(|e| panic_message(&e)),
    }
}

/// The peer of compare mode, if any.
fn peer() -> Option<Result<Target, String>> {
    match std::env::var("HOIST_CONFORMANCE_COMPARE") {
        Ok(p) if !p.is_empty() => Some(resolve(&p).map(Target::new)),
        _ => None,
    }
}

fn panic_message(e: &Box<dyn std::any::Any + Send>) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "panic".into())
}

/// Runs one case against one runtime; the runtime's containers and the bundles are
/// gone when this returns, passed or not.
fn verdict(case: &Case, bin: &Path) -> Verdict {
    // A `cgroup_v2` case takes the suite lock exclusively itself.
    let _lock = if case.name.contains("cgroup_v2") {
        None
    } else {
        cgroup_v2::SuiteLock::shared()
    };
    let r = catch_unwind(AssertUnwindSafe(|| {
        let rt = Rt::new(bin);
        (case.run)(&rt)
    }));
    match r {
        Ok(Ok(())) => Verdict::Pass,
        Ok(Err(Stop::Fail(m))) => Verdict::Fail(m),
        Ok(Err(Stop::Skip(m))) => Verdict::Skip(m),
        Err(e) => Verdict::Fail(format!("panicked: {}", panic_message(&e))),
    }
}

/// One row of the compare table.
struct Row {
    case: String,
    ours: Verdict,
    theirs: Verdict,
}

static ROWS: Mutex<Vec<Row>> = Mutex::new(Vec::new());

fn skipped(name: &str, why: &str) -> Result<Completion, Failed> {
    eprintln!("skipped: {name}: {why}");
    Ok(Completion::ignored_with(format!("skipped: {why}")))
}

fn trial(case: Case, compare: Option<Result<Target, String>>) -> Trial {
    let reason = case.skip_reason();
    let ignored = reason.is_some();
    Trial::ignorable_test(case.name, move || {
        if let Some(why) = reason {
            return skipped(case.name, &why);
        }
        let ours = under_test().map_err(|e| format!("no runtime under test: {e}"))?;
        let Some(peer) = compare else {
            return match verdict(&case, &ours.bin) {
                Verdict::Pass => Ok(Completion::Completed),
                Verdict::Fail(m) => Err(format!("{}: {m}", ours.name).into()),
                Verdict::Skip(why) => skipped(case.name, &why),
            };
        };
        let peer = peer.map_err(|e| format!("HOIST_CONFORMANCE_COMPARE: {e}"))?;
        let a = verdict(&case, &ours.bin);
        let b = verdict(&case, &peer.bin);
        let result = match (&a, &b) {
            (Verdict::Fail(m), Verdict::Pass) => {
                Err(format!("{} fails where {} passes: {m}", ours.name, peer.name).into())
            }
            (Verdict::Skip(why), _) => skipped(case.name, why),
            _ => {
                for (t, v) in [(&ours, &a), (&peer, &b)] {
                    if let Verdict::Fail(m) = v {
                        println!("{}: {} fails: {m}", case.name, t.name);
                    }
                }
                Ok(Completion::Completed)
            }
        };
        if let Ok(mut rows) = ROWS.lock() {
            rows.push(Row {
                case: case.name.to_owned(),
                ours: a,
                theirs: b,
            });
        }
        result
    })
    .with_ignored_flag(ignored)
}

/// Prints the compare table and the count of cases the peer passes and we fail.
fn print_table(ours: &str, peer: &str) {
    let Ok(mut rows) = ROWS.lock() else { return };
    if rows.is_empty() {
        return;
    }
    rows.sort_by(|a, b| a.case.cmp(&b.case));
    let w = rows.iter().map(|r| r.case.len()).max().unwrap_or(4).max(4);
    let (wa, wb) = (ours.len().max(4), peer.len().max(4));
    println!("\n{:w$} | {:wa$} | {:wb$}", "case", ours, peer);
    println!(
        "{}-|-{}-|-{}",
        "-".repeat(w),
        "-".repeat(wa),
        "-".repeat(wb)
    );
    for r in rows.iter() {
        let known = KNOWN_RUNC_FAILURES
            .iter()
            .find(|(c, _)| *c == r.case)
            .map(|(_, why)| *why);
        let note = match (&r.theirs, known) {
            (Verdict::Fail(_), Some(why)) => format!(" (known: {why})"),
            _ => String::new(),
        };
        println!(
            "{:w$} | {:wa$} | {:wb$}{note}",
            r.case,
            r.ours.word(),
            r.theirs.word()
        );
    }
    let worse: Vec<&str> = rows
        .iter()
        .filter(|r| matches!(r.ours, Verdict::Fail(_)) && r.theirs == Verdict::Pass)
        .map(|r| r.case.as_str())
        .collect();
    let count = |f: fn(&Verdict) -> bool, col: fn(&Row) -> &Verdict| {
        rows.iter().filter(|r| f(col(r))).count()
    };
    println!(
        "\nsummary: {} cases; {ours} passes {}, {peer} passes {}; {peer} passes and {ours} fails: {}{}",
        rows.len(),
        count(|v| *v == Verdict::Pass, |r| &r.ours),
        count(|v| *v == Verdict::Pass, |r| &r.theirs),
        worse.len(),
        if worse.is_empty() { String::new() } else { format!(" ({})", worse.join(", ")) }
    );
}

fn main() {
    let args = Arguments::from_args();
    let compare = peer();
    let cases = all_cases();
    let trials: Vec<Trial> = cases.iter().map(|c| trial(*c, compare.clone())).collect();
    if !args.list {
        // An ignored trial never runs, so its reason is said here, loudly.
        for (case, t) in cases.iter().zip(&trials) {
            if let Some(why) = case.skip_reason() {
                if !args.is_filtered_out(t) && args.is_ignored(t) {
                    eprintln!("skipped: {}: {why}", case.name);
                }
            }
        }
    }
    let conclusion = libtest_mimic::run(&args, trials);
    if let Some(Ok(peer)) = &compare {
        let ours = under_test()
            .map(|t| t.name)
            .unwrap_or_else(|_| "hoist-runtime".into());
        print_table(&ours, &peer.name);
    }
    conclusion.exit();
}
