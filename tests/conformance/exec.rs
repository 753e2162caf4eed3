//! `exec` variants beyond commands.rs's: runc's flags (`--user`, `-g`, `--cwd`,
//! `--env`, `--no-new-privs`, `--cap`, `--tty` with `--console-socket`), each run with
//! the checker as the exec'd process against the process it should be; and the
//! exec'd process's cgroups.

use std::time::Duration;

use serde_json::{json, Value};

use crate::bundle::{checker_bundle, judge_tap, write_json, CHECKER, CHECKER_DIR};
use crate::cgroups::{finish, pid_of};
use crate::common::Bundle;
use crate::console::Console;
use crate::harness::{ensure, new_id, CaseResult, Rt, Stop};
use crate::Case;

pub fn cases() -> Vec<Case> {
    vec![
        Case::new("exec_flags", exec_flags),
        Case::new("exec_cap", exec_cap),
        Case::new("exec_tty", exec_tty),
        Case::new("exec_cgroup", exec_cgroup),
    ]
}

/// A running container of the checker bundle (`sleep 300`), edited by `edit`.
fn running(
    rt: &Rt,
    case: &str,
    edit: impl FnOnce(&mut Value),
) -> Result<(Bundle, String, i64), Stop> {
    let b = checker_bundle(
        case,
        |c| {
            c["process"]["args"] = json!(["sleep", "300"]);
            edit(c);
        },
        json!({}),
    )?;
    let id = new_id(case);
    rt.create(&b, &id)?;
    rt.ok(&["start", &id])?;
    let pid = pid_of(&rt.wait_status(&id, "running")?)?;
    Ok((b, id, pid))
}

/// Writes what the exec'd checker must see under /.runtimetest/<name>/ (the
/// container's config with `process`, and the check groups); returns the config's
/// path inside the container.
fn exec_config(
    b: &Bundle,
    name: &str,
    mut process: Value,
    groups: &[&str],
) -> Result<String, Stop> {
    let inner = format!("/{CHECKER_DIR}/{name}/config.json");
    let dir = b.rootfs().join(CHECKER_DIR).join(name);
    std::fs::create_dir_all(&dir)
        .map_err(|e| Stop::Fail(format!("mkdir {}: {e}", dir.display())))?;
    process["args"] = json!([CHECKER, inner]);
    let mut cfg = b.config.clone();
    cfg["process"] = process;
    write_json(&dir.join("config.json"), &cfg)?;
    write_json(&dir.join("expect.json"), &json!({ "checks": groups }))?;
    Ok(inner)
}

/// Runs `exec FLAGS… ID checker CONFIG` in the foreground and judges its TAP.
fn exec_checker(rt: &Rt, id: &str, flags: &[&str], config: &str) -> CaseResult {
    let mut args = vec!["exec"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&[id, CHECKER, config]);
    let out = rt.run(&args)?;
    judge_tap(&out.stdout).map_err(|e| match e {
        Stop::Fail(m) => Stop::Fail(format!("`{}`:\n{m}\n{}", args.join(" "), out.describe())),
        s => s,
    })?;
    ensure(out.ok(), || {
        format!("`{}` exited {}", args.join(" "), out.describe())
    })
}

/// `exec --user 1000:1000 -g 7 --cwd /tmp --env K=V --no-new-privs` in a container
/// whose own process has noNewPrivileges false.
fn exec_flags(rt: &Rt) -> CaseResult {
    let (b, id, _) = running(rt, "exec-flags", |c| {
        c["process"]["noNewPrivileges"] = json!(false);
    })?;
    let mut process = b.config["process"].clone();
    if let Some(env) = process["env"].as_array_mut() {
        env.push(json!("HOIST_EXEC_FLAG=a b=c"));
    }
    process["cwd"] = json!("/tmp");
    process["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [7]});
    process["noNewPrivileges"] = json!(true);
    let config = exec_config(
        &b,
        "flags",
        process,
        &["process", "user", "nnp", "caps", "fds"],
    )?;
    let flags = [
        "--user",
        "1000:1000",
        "-g",
        "7",
        "--cwd",
        "/tmp",
        "--env",
        "HOIST_EXEC_FLAG=a b=c",
        "--no-new-privs",
    ];
    exec_checker(rt, &id, &flags, &config)?;
    finish(rt, &id)
}

/// `exec --cap CAP_SYS_CHROOT`: the capability joins the bounding, permitted and
/// effective sets, and nothing else changes: the inheritable set (and so the ambient
/// one) stays as the container's process has it. Regression test for
/// CVE-2022-29162 (runc < 1.1.2 added --cap to the inheritable set too, so that any
/// program with inheritable file capabilities gained them at execve).
fn exec_cap(rt: &Rt) -> CaseResult {
    let (b, id, _) = running(rt, "exec-cap", |_| {})?;
    let mut process = b.config["process"].clone();
    for set in ["bounding", "effective", "permitted"] {
        if let Some(list) = process["capabilities"][set].as_array_mut() {
            list.push(json!("CAP_SYS_CHROOT"));
        }
    }
    let config = exec_config(&b, "cap", process, &["caps", "nnp"])?;
    exec_checker(rt, &id, &["--cap", "CAP_SYS_CHROOT"], &config)?;
    finish(rt, &id)
}

/// `exec --tty --detach --console-socket S` (runc takes a console socket only with
/// both, as containerd's shim passes them): the pty master arrives over the socket
/// and the exec'd process has the pty as stdio and controlling terminal.
fn exec_tty(rt: &Rt) -> CaseResult {
    let (b, id, _) = running(rt, "exec-tty", |_| {})?;
    let mut process = b.config["process"].clone();
    process["terminal"] = json!(true);
    let config = exec_config(&b, "tty", process, &["tty", "process"])?;
    let sock = b.path().join("exec-console.sock");
    let console = Console::listen(&sock)?;
    let sock_arg = sock.to_string_lossy().into_owned();
    let args = [
        "exec",
        "--tty",
        "--detach",
        "--console-socket",
        &sock_arg,
        &id,
        CHECKER,
        &config,
    ];
    let out = rt.run(&args)?;
    let text = console.wait_output(Duration::from_secs(5))?;
    judge_tap(&text).map_err(|e| match e {
        Stop::Fail(m) => Stop::Fail(format!("{m}\n`exec --tty --detach`: {}", out.describe())),
        s => s,
    })?;
    ensure(out.ok(), || {
        format!("`exec --tty --detach` exited {}", out.describe())
    })?;
    finish(rt, &id)
}

/// An exec'd process (`--detach --pid-file`, as containerd's shim runs it) is in every
/// cgroup of the container's init.
fn exec_cgroup(rt: &Rt) -> CaseResult {
    let (b, id, init) = running(rt, "exec-cgroup", |c| {
        c["linux"]["resources"]["pids"] = json!({"limit": 50});
    })?;
    let pid_file = b.path().join("exec.pid");
    let pid_arg = pid_file.to_string_lossy().into_owned();
    rt.ok(&[
        "exec",
        "--detach",
        "--pid-file",
        &pid_arg,
        &id,
        "sleep",
        "100",
    ])?;
    let text = std::fs::read_to_string(&pid_file)
        .map_err(|e| Stop::Fail(format!("read the exec pid file: {e}")))?;
    let pid: i64 = text
        .trim()
        .parse()
        .map_err(|e| Stop::Fail(format!("exec pid file {text:?}: {e}")))?;
    let cg = |p: i64| std::fs::read_to_string(format!("/proc/{p}/cgroup")).unwrap_or_default();
    let (a, b) = (cg(pid), cg(init));
    ensure(!a.is_empty() && a == b, || {
        format!("the exec'd process {pid} is in\n{a}\nthe init {init} in\n{b}")
    })?;
    finish(rt, &id)
}
