//! Lifecycle cases: the runtime's commands (create, start, state, kill, delete, run)
//! and their errors, judged from the commands' results and `state` JSON.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::bundle::seal;
use crate::common::Bundle;
use crate::harness::{ensure, fail, new_id, nothing_left, wait_for, CaseResult, Rt, Stop};
use crate::Case;

pub fn cases() -> Vec<Case> {
    vec![
        Case::new("create", create),
        Case::new("start", start),
        Case::new("state", state),
        Case::new("kill", kill),
        Case::new("kill_no_effect", kill_no_effect),
        Case::new("killsig", killsig),
        Case::new("delete", delete),
        Case::new("delete_force", delete_force),
        Case::new("pidfile", pidfile),
        Case::new("run_exit_status", run_exit_status),
        Case::new("misc_props", misc_props),
        Case::new("create_bundle_cwd", create_bundle_cwd),
        Case::new("root_path_absolute", root_path_absolute),
    ]
}

pub fn bundle_path(b: &Bundle) -> String {
    b.path().to_string_lossy().into_owned()
}

/// Waits for a file the container makes in its rootfs (the harness sees it on the host).
pub fn wait_file(path: &Path) -> CaseResult {
    wait_for(&format!("{} to appear", path.display()), || path.exists())
}

fn pid_of(st: &Value) -> Result<i64, Stop> {
    match st["pid"].as_i64() {
        Some(p) if p > 0 => Ok(p),
        _ => fail(format!("state has no pid: {st}")),
    }
}

/// Kills a container with SIGKILL, waits for it to stop, deletes it.
fn finish(rt: &Rt, id: &str) -> CaseResult {
    rt.ok(&["kill", id, "KILL"])?;
    rt.wait_status(id, "stopped")?;
    rt.ok(&["delete", id])?;
    nothing_left(rt, id)
}

/// runtime-tools `create`: an id is required and must be unique; the container is
/// `created`, with a pid, and its process has not started.
fn create(rt: &Rt) -> CaseResult {
    let b = Bundle::new("create", &["sh", "-c", "touch /started; exec sleep 300"]);
    let out = rt.run(&["create", "--bundle", &bundle_path(&b)])?;
    ensure(!out.ok(), || "create without an id worked".into())?;
    let id = new_id("create");
    rt.create(&b, &id)?;
    let st = rt.state(&id)?;
    ensure(st["status"] == "created", || {
        format!("status after create: {}", st["status"])
    })?;
    ensure(st["id"] == id, || format!("state id: {}", st["id"]))?;
    let pid = pid_of(&st)?;
    ensure(Path::new(&format!("/proc/{pid}")).exists(), || {
        format!("state pid {pid} is not a live process")
    })?;
    std::thread::sleep(Duration::from_millis(100));
    ensure(!b.rootfs().join("started").exists(), || {
        "the process ran before `start`".into()
    })?;
    let again = rt.run(&["create", "--bundle", &bundle_path(&b), &id])?;
    ensure(!again.ok(), || {
        "a second create with the same id worked".into()
    })?;
    let st2 = rt.state(&id)?;
    ensure(
        st2["status"] == "created" && st2["pid"] == st["pid"],
        || format!("the failed second create changed the first container: {st2}"),
    )?;
    finish(rt, &id)
}

/// runtime-tools `start`: runs the process; a second start, a start of an unknown
/// id, a start without an id fail.
fn start(rt: &Rt) -> CaseResult {
    let b = Bundle::new("start", &["sh", "-c", "touch /started; exec sleep 300"]);
    let id = new_id("start");
    rt.create(&b, &id)?;
    rt.ok(&["start", &id])?;
    wait_file(&b.rootfs().join("started"))?;
    let st = rt.state(&id)?;
    ensure(st["status"] == "running", || {
        format!("status after start: {}", st["status"])
    })?;
    let again = rt.run(&["start", &id])?;
    ensure(!again.ok(), || "a second start worked".into())?;
    ensure(rt.state(&id)?["status"] == "running", || {
        "a failed second start stopped the container".into()
    })?;
    let none = rt.run(&["start", &new_id("nonexistent")])?;
    ensure(!none.ok(), || "start of an unknown id worked".into())?;
    let noid = rt.run(&["start"])?;
    ensure(!noid.ok(), || "start without an id worked".into())?;
    finish(rt, &id)
}

/// runtime-tools `state`: the fields of the state JSON through the lifecycle.
fn state(rt: &Rt) -> CaseResult {
    let mut b = Bundle::new("state", &["sleep", "300"]);
    b.config["annotations"] = json!({"org.hoist.conformance": "yes", "com.example.empty": ""});
    seal(&b)?;
    let id = new_id("state");
    rt.create(&b, &id)?;
    let st = rt.state(&id)?;
    let bundle = b
        .path()
        .canonicalize()
        .map_err(|e| Stop::Fail(format!("canonicalize bundle: {e}")))?;
    ensure(
        st["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
        || format!("ociVersion: {st}"),
    )?;
    ensure(st["id"] == id, || format!("id: {st}"))?;
    ensure(st["status"] == "created", || format!("status: {st}"))?;
    pid_of(&st)?;
    ensure(
        st["bundle"].as_str().map(Path::new) == Some(bundle.as_path()),
        || {
            format!(
                "bundle: expected {}, got {}",
                bundle.display(),
                st["bundle"]
            )
        },
    )?;
    ensure(st["annotations"] == b.config["annotations"], || {
        format!("annotations: {st}")
    })?;
    rt.ok(&["start", &id])?;
    let st = rt.state(&id)?;
    ensure(st["status"] == "running", || {
        format!("status after start: {st}")
    })?;
    pid_of(&st)?;
    rt.ok(&["kill", &id, "KILL"])?;
    rt.wait_status(&id, "stopped")?;
    rt.ok(&["delete", &id])?;
    let gone = rt.run(&["state", &id])?;
    ensure(!gone.ok(), || "state of a deleted container worked".into())
}

/// runtime-tools `kill`: needs an id; a created and a running container get the
/// signal; an unknown or stopped one is an error.
fn kill(rt: &Rt) -> CaseResult {
    ensure(!rt.run(&["kill"])?.ok(), || {
        "kill without an id worked".into()
    })?;
    ensure(
        !rt.run(&["kill", &new_id("nonexistent"), "KILL"])?.ok(),
        || "kill of an unknown id worked".into(),
    )?;

    let b = Bundle::new("kill", &["sleep", "300"]);
    let created = new_id("kill-created");
    rt.create(&b, &created)?;
    rt.ok(&["kill", &created, "KILL"])?;
    rt.wait_status(&created, "stopped")?;
    rt.ok(&["delete", &created])?;

    let running = new_id("kill-running");
    rt.create(&b, &running)?;
    rt.ok(&["start", &running])?;
    rt.ok(&["kill", &running, "KILL"])?;
    rt.wait_status(&running, "stopped")?;
    let again = rt.run(&["kill", &running, "KILL"])?;
    ensure(!again.ok(), || "kill of a stopped container worked".into())?;
    rt.ok(&["delete", &running])?;
    nothing_left(rt, &running)
}

/// runtime-tools `kill_no_effect`: killing a stopped container changes nothing.
fn kill_no_effect(rt: &Rt) -> CaseResult {
    let b = Bundle::new("kill-no-effect", &["true"]);
    let id = new_id("kill-no-effect");
    rt.create(&b, &id)?;
    rt.ok(&["start", &id])?;
    let before = rt.wait_status(&id, "stopped")?;
    let _ = rt.run(&["kill", &id, "KILL"])?;
    let after = rt.state(&id)?;
    ensure(before == after, || {
        format!("state changed: {before} -> {after}")
    })?;
    rt.ok(&["delete", &id])?;
    Ok(())
}

/// runtime-tools `killsig`: the signal named (by name, SIG-name or number, as
/// containerd and the runc CLI send them) reaches the container process.
fn killsig(rt: &Rt) -> CaseResult {
    for (arg, trap) in [
        ("TERM", "TERM"),
        ("SIGUSR1", "USR1"),
        ("12", "USR2"),
        ("SIGHUP", "HUP"),
    ] {
        let script =
            format!("trap 'touch /got-{trap}; exit 0' {trap}; touch /ready; sleep 300 & wait $!");
        let b = Bundle::new("killsig", &["sh", "-c", &script]);
        let id = new_id("killsig");
        rt.create(&b, &id)?;
        rt.ok(&["start", &id])?;
        wait_file(&b.rootfs().join("ready"))?;
        rt.ok(&["kill", &id, arg])?;
        rt.wait_status(&id, "stopped").map_err(|e| match e {
            Stop::Fail(m) => Stop::Fail(format!("kill {arg}: {m}")),
            s => s,
        })?;
        ensure(b.rootfs().join(format!("got-{trap}")).exists(), || {
            format!("kill {arg}: no SIG{trap} arrived")
        })?;
        rt.ok(&["delete", &id])?;
    }
    Ok(())
}

/// runtime-tools `delete`: needs an id; deleting a running container is an error with
/// no effect; deleting a stopped one removes it.
fn delete(rt: &Rt) -> CaseResult {
    ensure(!rt.run(&["delete"])?.ok(), || {
        "delete without an id worked".into()
    })?;
    ensure(!rt.run(&["delete", &new_id("nonexistent")])?.ok(), || {
        "delete of an unknown id worked".into()
    })?;
    // runc deletes a `created` container without --force (killing it), where the spec
    // asks for an error; engines rely on runc's way, so it is not tested either way.
    let b = Bundle::new("delete", &["sleep", "300"]);
    let id = new_id("delete");
    rt.create(&b, &id)?;
    rt.ok(&["start", &id])?;
    let out = rt.run(&["delete", &id])?;
    ensure(!out.ok(), || "delete of a running container worked".into())?;
    ensure(rt.state(&id)?["status"] == "running", || {
        "a failed delete stopped the container".into()
    })?;
    finish(rt, &id)
}

/// `delete --force` of a running container kills it and removes it.
fn delete_force(rt: &Rt) -> CaseResult {
    let b = Bundle::new("delete-force", &["sleep", "300"]);
    let id = new_id("delete-force");
    rt.create(&b, &id)?;
    rt.ok(&["start", &id])?;
    let pid = pid_of(&rt.state(&id)?)?;
    rt.ok(&["delete", "--force", &id])?;
    nothing_left(rt, &id)?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Path::new(&format!("/proc/{pid}")).exists() {
        // A zombie of an exited reaper is gone as soon as its parent reaps it.
        let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if st
            .rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
        {
            break;
        }
        if Instant::now() > deadline {
            return fail(format!("process {pid} still alive after delete --force"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// runtime-tools `pidfile`: `create --pid-file` writes the pid `state` reports.
fn pidfile(rt: &Rt) -> CaseResult {
    let b = Bundle::new("pidfile", &["sleep", "300"]);
    let id = new_id("pidfile");
    let file = b.path().join("container.pid");
    rt.ok(&[
        "create",
        "--bundle",
        &bundle_path(&b),
        "--pid-file",
        &file.to_string_lossy(),
        &id,
    ])?;
    let text =
        std::fs::read_to_string(&file).map_err(|e| Stop::Fail(format!("read pid file: {e}")))?;
    let pid: i64 = text
        .trim()
        .parse()
        .map_err(|e| Stop::Fail(format!("pid file {text:?}: {e}")))?;
    let st = rt.state(&id)?;
    ensure(pid_of(&st)? == pid, || {
        format!("pid file says {pid}, state says {}", st["pid"])
    })?;
    finish(rt, &id)
}

/// `run` exits with the container process's exit status (what engines report).
fn run_exit_status(rt: &Rt) -> CaseResult {
    let b = Bundle::new("run-exit", &["sh", "-c", "echo out; echo err >&2; exit 3"]);
    let id = new_id("run-exit");
    let out = rt.run(&["run", "--bundle", &bundle_path(&b), &id])?;
    ensure(out.status.code() == Some(3), || {
        format!("run exited {}, expected 3", out.status)
    })?;
    ensure(out.stdout == "out\n", || format!("stdout {:?}", out.stdout))?;
    ensure(out.stderr.contains("err"), || {
        format!("stderr {:?}", out.stderr)
    })?;
    nothing_left(rt, &id)
}

/// `create ID` without --bundle takes the current directory as the bundle (runc).
fn create_bundle_cwd(rt: &Rt) -> CaseResult {
    let b = Bundle::new("bundle-cwd", &["sh", "-c", "touch /started"]);
    let id = new_id("bundle-cwd");
    let mut cmd = rt.command(&["create", &id]);
    cmd.current_dir(b.path());
    let out = crate::harness::exec(cmd, crate::harness::CMD_TIMEOUT)?;
    rt.remember(&id);
    ensure(out.ok(), || {
        format!("create in the bundle directory failed: {}", out.describe())
    })?;
    let st = rt.state(&id)?;
    let bundle = b
        .path()
        .canonicalize()
        .map_err(|e| Stop::Fail(format!("canonicalize: {e}")))?;
    ensure(
        st["bundle"].as_str().map(Path::new) == Some(bundle.as_path()),
        || format!("bundle: {st}"),
    )?;
    rt.ok(&["start", &id])?;
    wait_file(&b.rootfs().join("started"))?;
    rt.wait_status(&id, "stopped")?;
    rt.ok(&["delete", &id])?;
    nothing_left(rt, &id)
}

/// `root.path` may be absolute as well as relative to the bundle.
fn root_path_absolute(rt: &Rt) -> CaseResult {
    let mut b = Bundle::new("root-abs", &["sh", "-c", "touch /started"]);
    b.config["root"]["path"] = json!(b.rootfs().to_string_lossy());
    seal(&b)?;
    let id = new_id("root-abs");
    let out = rt.run(&["run", "--bundle", &bundle_path(&b), &id])?;
    ensure(out.ok(), || format!("run failed: {}", out.describe()))?;
    ensure(b.rootfs().join("started").exists(), || {
        "the process did not run in the rootfs".into()
    })?;
    nothing_left(rt, &id)
}

/// runtime-tools `misc_props`: unknown annotations and unknown properties are not
/// errors.
fn misc_props(rt: &Rt) -> CaseResult {
    let mut b = Bundle::new("misc-props", &["true"]);
    b.config["annotations"] = json!({"org.hoist.unknown.key": "", "io.example/any": "x"});
    b.config["hoistUnknownProperty"] = json!({"nested": [1, 2, 3]});
    b.config["process"]["hoistUnknown"] = json!(true);
    seal(&b)?;
    let id = new_id("misc-props");
    rt.create(&b, &id)?;
    rt.ok(&["start", &id])?;
    rt.wait_status(&id, "stopped")?;
    rt.ok(&["delete", &id])?;
    nothing_left(rt, &id)
}
