//! Hook cases: each hook is a shell that saves the state it got on stdin, appends its
//! name to an order file and notes its mount namespace, in a host directory that is
//! also bind-mounted into the container at /hooklog (startContainer hooks run inside).

use std::path::Path;

use serde_json::{json, Value};

use crate::bundle::seal;
use crate::common::{scratch, Bundle};
use crate::harness::{ensure, fail, new_id, nothing_left, wait_for, CaseResult, Rt, Stop};
use crate::Case;

pub fn cases() -> Vec<Case> {
    vec![
        Case::new("hooks", hooks),
        Case::new("hooks_stdin", hooks_stdin),
        Case::new("prestart", prestart),
        Case::new("prestart_fail", prestart_fail),
        Case::new("poststart", poststart),
        Case::new("poststart_fail", poststart_fail),
        Case::new("poststop", poststop),
        Case::new("poststop_fail", poststop_fail),
        Case::new("poststop_fail_continue", poststop_fail_continue),
        Case::new("hooks_env", hooks_env),
        Case::new("prestart_timeout", prestart_timeout),
    ]
}

const IN_CONTAINER: &str = "/hooklog";

/// A hook that records itself under `dir` (as the hook sees it) and exits `status`.
fn hook(dir: &str, name: &str, status: i32) -> Value {
    let script = format!(
        "cat > {dir}/{name}.json; readlink /proc/self/ns/mnt > {dir}/{name}.mnt; echo {name} >> {dir}/order; exit {status}"
    );
    json!({"path": "/bin/sh", "args": ["sh", "-c", script]})
}

/// A bundle with `hooks` (kind, exit status) whose process records itself too.
fn hooked(case: &str, log: &Path, hooks: &[(&str, i32)], args: &[&str]) -> Result<Bundle, Stop> {
    let mut b = Bundle::new(case, args);
    let host_dir = log.to_string_lossy().into_owned();
    for (kind, status) in hooks {
        // startContainer hooks resolve and run inside the container.
        let dir = if *kind == "startContainer" {
            IN_CONTAINER
        } else {
            host_dir.as_str()
        };
        let mut list = b.config["hooks"][kind]
            .as_array_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        list.push(hook(dir, kind, *status));
        b.config["hooks"][kind] = json!(list);
    }
    b.config["annotations"] = json!({"org.hoist.hook": "yes"});
    b.config["mounts"]
        .as_array_mut()
        .ok_or_else(|| Stop::Fail("base config has no mounts".into()))?
        .push(json!({"destination": IN_CONTAINER, "type": "bind", "source": host_dir, "options": ["rbind", "rw"]}));
    seal(&b)?;
    Ok(b)
}

fn order(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log.join("order"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn saved_state(log: &Path, name: &str) -> Result<Value, Stop> {
    let p = log.join(format!("{name}.json"));
    let text = std::fs::read_to_string(&p)
        .map_err(|e| Stop::Fail(format!("{name} hook did not run ({e})")))?;
    serde_json::from_str(&text).or_else(|e| {
        fail(format!(
            "{name} hook got no state JSON on stdin ({e}): {text:?}"
        ))
    })
}

fn position(list: &[String], name: &str) -> Result<usize, Stop> {
    list.iter()
        .position(|n| n == name)
        .ok_or_else(|| Stop::Fail(format!("{name} did not run; order {list:?}")))
}

const ALL: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// runtime-tools `hooks`: every kind runs, once, at its point of the lifecycle.
fn hooks(rt: &Rt) -> CaseResult {
    let log = scratch("hooklog");
    let hooks: Vec<(&str, i32)> = ALL.iter().map(|k| (*k, 0)).collect();
    let b = hooked(
        "hooks",
        log.path(),
        &hooks,
        &["sh", "-c", "echo process >> /hooklog/order; exec sleep 300"],
    )?;
    let id = new_id("hooks");
    rt.create(&b, &id)?;
    // What ran at create; poststart timing is the `poststart` case's (runc 1.1.5 runs
    // poststart hooks during create).
    let after_create = order(log.path());
    for k in ["prestart", "createRuntime", "createContainer"] {
        position(&after_create, k)?;
    }
    ensure(
        position(&after_create, "createContainer")? > position(&after_create, "createRuntime")?,
        || format!("createContainer ran before createRuntime: {after_create:?}"),
    )?;
    for k in ["startContainer", "process", "poststop"] {
        ensure(!after_create.iter().any(|n| n == k), || {
            format!("{k} ran during create: {after_create:?}")
        })?;
    }
    rt.ok(&["start", &id])?;
    let after_start = order(log.path());
    position(&after_start, "poststart").map_err(|_| {
        Stop::Fail(format!(
            "poststart had not run when start returned: {after_start:?}"
        ))
    })?;
    wait_for("the process to run", || {
        order(log.path()).iter().any(|n| n == "process")
    })?;
    let o = order(log.path());
    ensure(
        position(&o, "startContainer")? < position(&o, "process")?,
        || format!("startContainer ran after the process: {o:?}"),
    )?;
    ensure(!o.iter().any(|n| n == "poststop"), || {
        format!("poststop ran before delete: {o:?}")
    })?;
    rt.ok(&["kill", &id, "KILL"])?;
    rt.wait_status(&id, "stopped")?;
    rt.ok(&["delete", &id])?;
    let o = order(log.path());
    ensure(o.last().map(String::as_str) == Some("poststop"), || {
        format!("poststop is not last: {o:?}")
    })?;
    let mut counts: Vec<(&str, usize)> = ALL
        .iter()
        .map(|k| (*k, o.iter().filter(|n| n == k).count()))
        .collect();
    counts.retain(|(_, n)| *n != 1);
    ensure(counts.is_empty(), || {
        format!("hooks not run exactly once: {counts:?} in {o:?}")
    })?;
    // prestart and createRuntime run in the runtime's namespace (runtime-spec).
    let host_mnt = std::fs::read_link("/proc/self/ns/mnt")
        .map_err(|e| Stop::Fail(format!("readlink: {e}")))?;
    for k in ["prestart", "createRuntime", "poststart", "poststop"] {
        let got = std::fs::read_to_string(log.path().join(format!("{k}.mnt"))).unwrap_or_default();
        ensure(Path::new(got.trim()) == host_mnt, || {
            format!(
                "{k} ran in mount namespace {}, not the runtime's {}",
                got.trim(),
                host_mnt.display()
            )
        })?;
    }
    for k in ["createContainer", "startContainer"] {
        let got = std::fs::read_to_string(log.path().join(format!("{k}.mnt"))).unwrap_or_default();
        ensure(Path::new(got.trim()) != host_mnt, || {
            format!("{k} ran in the runtime's mount namespace")
        })?;
    }
    nothing_left(rt, &id)
}

/// runtime-tools `hooks_stdin`: every hook gets the container's state on stdin.
fn hooks_stdin(rt: &Rt) -> CaseResult {
    let log = scratch("hooklog");
    let hooks: Vec<(&str, i32)> = ALL.iter().map(|k| (*k, 0)).collect();
    let b = hooked("hooks-stdin", log.path(), &hooks, &["sleep", "300"])?;
    let id = new_id("hooks-stdin");
    rt.create(&b, &id)?;
    let pid = rt.state(&id)?["pid"].clone();
    rt.ok(&["start", &id])?;
    rt.ok(&["kill", &id, "KILL"])?;
    rt.wait_status(&id, "stopped")?;
    rt.ok(&["delete", &id])?;
    let bundle = b
        .path()
        .canonicalize()
        .map_err(|e| Stop::Fail(format!("canonicalize: {e}")))?;
    for k in ALL {
        let st = saved_state(log.path(), k)?;
        let why = |what: &str| format!("{k} hook state: {what}: {st}");
        ensure(st["id"] == id, || why("id"))?;
        ensure(
            st["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
            || why("ociVersion"),
        )?;
        ensure(
            st["bundle"].as_str().map(Path::new) == Some(bundle.as_path()),
            || why("bundle"),
        )?;
        ensure(st["annotations"] == b.config["annotations"], || {
            why("annotations")
        })?;
        let status = st["status"].as_str().unwrap_or_default();
        ensure(
            ["creating", "created", "running", "stopped"].contains(&status),
            || why("status"),
        )?;
        match k {
            "poststop" => {}
            // These run inside the container: runc 1.1.5 gives them the pid as seen
            // in the container's pid namespace (1), where the spec means the host's.
            "createContainer" | "startContainer" => {
                ensure(st["pid"] == pid || st["pid"] == 1, || {
                    why(&format!("pid, expected {pid} (or 1)"))
                })?;
            }
            _ => ensure(st["pid"] == pid, || why(&format!("pid, expected {pid}")))?,
        }
    }
    nothing_left(rt, &id)
}

/// runtime-tools `prestart`: runs during create, with the container's pid.
fn prestart(rt: &Rt) -> CaseResult {
    let log = scratch("hooklog");
    let b = hooked(
        "prestart",
        log.path(),
        &[("prestart", 0)],
        &["sleep", "300"],
    )?;
    let id = new_id("prestart");
    rt.create(&b, &id)?;
    let st = saved_state(log.path(), "prestart")?;
    let now = rt.state(&id)?;
    ensure(st["pid"] == now["pid"] && st["id"] == id, || {
        format!("prestart state {st}, container state {now}")
    })?;
    rt.ok(&["delete", "--force", &id])?;
    nothing_left(rt, &id)
}

/// runtime-tools `prestart_fail`: a failing prestart hook fails create, the process
/// never runs, and nothing is left.
fn prestart_fail(rt: &Rt) -> CaseResult {
    let log = scratch("hooklog");
    let b = hooked(
        "prestart-fail",
        log.path(),
        &[("prestart", 1)],
        &["sh", "-c", "touch /started"],
    )?;
    let id = new_id("prestart-fail");
    let out = rt.run(&["create", "--bundle", &b.path().to_string_lossy(), &id])?;
    ensure(!out.ok(), || {
        "create worked despite the failing prestart hook".into()
    })?;
    position(&order(log.path()), "prestart")?;
    let _ = rt.run(&["start", &id]);
    ensure(!b.rootfs().join("started").exists(), || {
        "the process ran".into()
    })?;
    nothing_left(rt, &id)
}

/// runtime-tools `poststart`: runs at start (after the process started, before
/// `start` returns), not at create. Known runc failure: runc 1.1.5 runs poststart
/// hooks during `create` (fixed in runc 1.2).
fn poststart(rt: &Rt) -> CaseResult {
    let log = scratch("hooklog");
    let b = hooked(
        "poststart",
        log.path(),
        &[("poststart", 0)],
        &["sleep", "300"],
    )?;
    let id = new_id("poststart");
    rt.create(&b, &id)?;
    ensure(order(log.path()).is_empty(), || {
        "poststart ran during create".into()
    })?;
    rt.ok(&["start", &id])?;
    let st = saved_state(log.path(), "poststart")?;
    ensure(st["id"] == id, || format!("poststart state {st}"))?;
    rt.ok(&["delete", "--force", &id])?;
    nothing_left(rt, &id)
}

/// runtime-tools `poststart_fail`: a failing poststart hook is logged and the
/// remaining hooks and the lifecycle go on as if it had succeeded. Known runc failure:
/// runc 1.1.5 runs poststart hooks in `create` and fails it.
fn poststart_fail(rt: &Rt) -> CaseResult {
    let log = scratch("hooklog");
    let b = hooked(
        "poststart-fail",
        log.path(),
        &[("poststart", 1), ("poststart", 0)],
        &["sleep", "300"],
    )?;
    let id = new_id("poststart-fail");
    rt.create(&b, &id)?;
    let out = rt.run(&["start", &id])?;
    ensure(out.ok(), || format!("start failed: {}", out.describe()))?;
    let o = order(log.path());
    ensure(o.iter().filter(|n| *n == "poststart").count() == 2, || {
        format!("the second poststart hook did not run: {o:?}")
    })?;
    ensure(rt.state(&id)?["status"] == "running", || {
        "the container is not running".into()
    })?;
    rt.ok(&["delete", "--force", &id])?;
    nothing_left(rt, &id)
}

/// runtime-tools `poststop`: runs at delete, not before.
fn poststop(rt: &Rt) -> CaseResult {
    let log = scratch("hooklog");
    let b = hooked("poststop", log.path(), &[("poststop", 0)], &["true"])?;
    let id = new_id("poststop");
    rt.create(&b, &id)?;
    rt.ok(&["start", &id])?;
    rt.wait_status(&id, "stopped")?;
    ensure(order(log.path()).is_empty(), || {
        "poststop ran before delete".into()
    })?;
    rt.ok(&["delete", &id])?;
    let st = saved_state(log.path(), "poststop")?;
    ensure(st["id"] == id, || format!("poststop state {st}"))?;
    nothing_left(rt, &id)
}

/// runtime-tools `poststop_fail`, first half: a failing poststop hook is logged and
/// delete still removes the container.
fn poststop_fail(rt: &Rt) -> CaseResult {
    failing_poststop(rt, false)
}

/// runtime-tools `poststop_fail`, second half: the hooks after the failing one still
/// run. Known runc failure: runc 1.1.5 stops at the first failing poststop hook.
fn poststop_fail_continue(rt: &Rt) -> CaseResult {
    failing_poststop(rt, true)
}

fn failing_poststop(rt: &Rt, want_second: bool) -> CaseResult {
    let log = scratch("hooklog");
    let hooks = [("poststop", 1), ("poststop", 0)];
    let b = hooked("poststop-fail", log.path(), &hooks, &["true"])?;
    let id = new_id("poststop-fail");
    rt.create(&b, &id)?;
    rt.ok(&["start", &id])?;
    rt.wait_status(&id, "stopped")?;
    let _ = rt.run(&["delete", &id])?;
    let o = order(log.path());
    position(&o, "poststop")?;
    if want_second {
        ensure(o.iter().filter(|n| *n == "poststop").count() == 2, || {
            format!("the second poststop hook did not run: {o:?}")
        })?;
    }
    nothing_left(rt, &id)
}

/// A hook's `env` is its whole environment, and its `args` its argv.
fn hooks_env(rt: &Rt) -> CaseResult {
    let log = scratch("hooklog");
    let mut b = Bundle::new("hooks-env", &["true"]);
    let out = log.path().join("env");
    let script = format!(
        "echo \"$0|$HOIST_HOOK|${{HOME:-unset}}\" > {}",
        out.display()
    );
    b.config["hooks"]["prestart"] = json!([{
        "path": "/bin/sh",
        "args": ["hoist-hook", "-c", script],
        "env": ["HOIST_HOOK=yes", "PATH=/usr/bin:/bin"]
    }]);
    seal(&b)?;
    let id = new_id("hooks-env");
    rt.create(&b, &id)?;
    let got = std::fs::read_to_string(&out)
        .map_err(|e| Stop::Fail(format!("the hook did not run ({e})")))?;
    ensure(got.trim() == "hoist-hook|yes|unset", || {
        format!(
            "hook saw argv0|HOIST_HOOK|HOME = {:?}, expected \"hoist-hook|yes|unset\"",
            got.trim()
        )
    })?;
    rt.ok(&["delete", "--force", &id])?;
    nothing_left(rt, &id)
}

/// A hook that outlives its `timeout` is killed and fails the operation.
fn prestart_timeout(rt: &Rt) -> CaseResult {
    let mut b = Bundle::new("prestart-timeout", &["true"]);
    b.config["hooks"]["prestart"] =
        json!([{"path": "/bin/sleep", "args": ["sleep", "60"], "timeout": 1}]);
    seal(&b)?;
    let id = new_id("prestart-timeout");
    let started = std::time::Instant::now();
    let out = rt.run(&["create", "--bundle", &b.path().to_string_lossy(), &id])?;
    let took = started.elapsed();
    ensure(!out.ok(), || {
        "create worked despite the hook timing out".into()
    })?;
    ensure(took < std::time::Duration::from_secs(20), || {
        format!("create took {took:?} with a 1 s hook timeout")
    })?;
    nothing_left(rt, &id)
}
