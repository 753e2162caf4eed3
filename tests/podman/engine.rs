//! A private podman for one test: its root, runroot, tmp dir, runtime state and config
//! files in a scratch dir, containers under a cgroup parent of its own, the busybox image
//! pulled in, every podman call bounded in time, and a wrapper that records each command
//! line podman and conmon give the runtime. Dropping it tears everything down (see
//! `cleanup`), whether the test passed or panicked.

use std::ffi::OsStr;
use std::fmt;
use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::cleanup;
use crate::setup::{self, Dirs};

/// How long one podman call may take before the test gives up on it: a runtime that
/// hangs in `create` must fail the test, not wedge the run.
pub const PODMAN_TIMEOUT: Duration = Duration::from_secs(20);
/// Cleanup calls get less: they run after a failure has already been found.
pub const CLEANUP_TIMEOUT: Duration = Duration::from_secs(5);
/// The cgroup hierarchies' mount point.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// A finished (or timed-out) command: what ran, how it ended, what it printed.
pub struct Out {
    pub cmd: String,
    /// `None` when the command outran its timeout and was killed.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Out {
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    pub fn success(&self) -> bool {
        self.code() == Some(0)
    }
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(s) => writeln!(f, "`{}` ended with {s} after {:?}", self.cmd, self.elapsed)?,
            None => writeln!(f, "`{}` timed out and was killed", self.cmd)?,
        }
        writeln!(f, "--- stdout:\n{}", self.stdout)?;
        write!(f, "--- stderr:\n{}", self.stderr)
    }
}

/// One private podman "installation" and the cgroup parent its containers go under.
pub struct Podman {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) dirs: Dirs,
    /// The real runtime under test (the wrapper execs it).
    pub(crate) runtime: PathBuf,
    /// `/hoist-podman-<tag>-<pid>-<n>`: unique on the host, removed by `Drop`.
    pub cgroup_parent: String,
    /// The pulled busybox image's id.
    pub image: String,
    seq: AtomicU32,
}

impl Podman {
    /// Sets up a private podman for the test named by `tag` (letters and digits) and
    /// pulls the busybox image into it.
    #[track_caller]
    pub fn start(tag: &str) -> Self {
        setup::require_tools();
        let runtime = setup::runtime_under_test();
        let source = setup::busybox_source();
        let dir = crate::common::scratch("podman");
        let dirs = Dirs::new(dir.path());
        dirs.write_all(&runtime);

        static STARTED: AtomicU32 = AtomicU32::new(0);
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let cgroup_parent = format!("/hoist-podman-{tag}-{}-{n}", std::process::id());

        // From here on the guard exists: a panic below still tears it all down.
        let mut me = Podman {
            dir,
            dirs,
            runtime,
            cgroup_parent,
            image: String::new(),
            seq: AtomicU32::new(0),
        };
        let policy = me.dirs.policy.display().to_string();
        let out = me.podman_ok(&["pull", "-q", "--signature-policy", &policy, &source]);
        me.image = out
            .stdout
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_owned();
        assert!(
            !me.image.is_empty(),
            "`podman pull` printed no image id\n{out}"
        );
        me
    }

    /// A per-test path for a `--cidfile`.
    pub fn cidfile(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.cid"))
    }

    /// The id podman wrote to a `--cidfile`.
    #[track_caller]
    pub fn read_cid(&self, name: &str) -> String {
        let path = self.cidfile(name);
        let id = fs::read_to_string(&path)
            .unwrap_or_default()
            .trim()
            .to_owned();
        assert!(
            !id.is_empty(),
            "podman wrote no id to {}\n{}",
            path.display(),
            self.diagnostics()
        );
        id
    }

    /// `run --network none --cgroup-parent P --cidfile F --name NAME OPTS… IMAGE CMD…`
    /// (no `--cgroup-parent` with `--cgroups=disabled`: podman refuses the pair).
    pub fn run_args(&self, name: &str, opts: &[&str], cmd: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = vec!["run".into(), "--network".into(), "none".into()];
        if !opts.contains(&"--cgroups=disabled") {
            v.push("--cgroup-parent".into());
            v.push(self.cgroup_parent.clone());
        }
        v.extend([
            "--cidfile".into(),
            self.cidfile(name).display().to_string(),
            "--name".into(),
            name.into(),
        ]);
        v.extend(opts.iter().map(|s| (*s).to_owned()));
        v.push(self.image.clone());
        v.extend(cmd.iter().map(|s| (*s).to_owned()));
        v
    }

    /// `podman` with this test's root, runroot, storage driver, runtime and config.
    pub(crate) fn command(&self) -> Command {
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(&self.dirs.root)
            .arg("--runroot")
            .arg(&self.dirs.runroot)
            .arg("--storage-driver")
            .arg("overlay")
            .arg("--runtime")
            .arg(&self.dirs.wrapper);
        c.env("CONTAINERS_CONF", &self.dirs.containers_conf)
            .env("CONTAINERS_STORAGE_CONF", &self.dirs.storage_conf)
            // conmon makes its console socket dir (`conmon-term.<random>`) under $TMPDIR.
            .env("TMPDIR", &self.dirs.tmp)
            // A remote podman would talk to some service instead of this private one.
            .env_remove("CONTAINER_HOST")
            .env_remove("CONTAINER_CONNECTION");
        c
    }

    /// Runs `podman ARGS…` with this test's setup.
    #[track_caller]
    pub fn podman<S: AsRef<OsStr>>(&self, args: &[S]) -> Out {
        self.podman_within(args, PODMAN_TIMEOUT)
            .unwrap_or_else(|e| panic!("spawn podman: {e}"))
    }

    pub(crate) fn podman_within<S: AsRef<OsStr>>(
        &self,
        args: &[S],
        timeout: Duration,
    ) -> std::io::Result<Out> {
        let mut c = self.command();
        c.args(args);
        self.bounded(&mut c, timeout, false)
    }

    /// Like `podman`, and fails the test unless podman succeeded.
    #[track_caller]
    pub fn podman_ok<S: AsRef<OsStr>>(&self, args: &[S]) -> Out {
        let out = self.podman(args);
        self.expect_ok(&out);
        out
    }

    /// Runs `podman ARGS…` on a fresh pseudo-terminal, as `script -qec "podman …"
    /// /dev/null` does, for `run -it` and `exec -it`. script's stdin stays an open, empty
    /// pipe until podman ends, as a terminal nobody types on: at EOF script would send
    /// the terminal's EOF character through `-i` and race the container's output.
    /// Carriage returns are dropped from the output.
    #[track_caller]
    pub fn podman_in_terminal<S: AsRef<OsStr>>(&self, args: &[S]) -> Out {
        let podman = self.command();
        let mut line = "exec podman".to_owned();
        for a in podman.get_args().chain(args.iter().map(AsRef::as_ref)) {
            line.push(' ');
            line.push_str(&setup::sh_quote(&a.to_string_lossy()));
        }
        let mut c = Command::new("script");
        c.args(["-q", "-e", "-c"]).arg(&line).arg("/dev/null");
        // script passes its environment on: give it podman's.
        for (k, v) in podman.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        // script runs the line with $SHELL -c; pin it so the quoting above holds.
        c.env("SHELL", "/bin/sh");
        let mut out = self
            .bounded(&mut c, PODMAN_TIMEOUT, true)
            .unwrap_or_else(|e| panic!("spawn script: {e}"));
        out.stdout = out.stdout.replace('\r', "");
        out
    }

    /// Runs `cmd` in its own process group with its output in files, killing the whole
    /// group if it outlives `timeout`. stdin is closed, or with `hold_stdin` an empty pipe
    /// that stays open until the command ends.
    fn bounded(
        &self,
        cmd: &mut Command,
        timeout: Duration,
        hold_stdin: bool,
    ) -> std::io::Result<Out> {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let out_path = self.dir.path().join(format!("cmd-{n}.stdout"));
        let err_path = self.dir.path().join(format!("cmd-{n}.stderr"));
        let desc = describe(cmd);
        let start = Instant::now();
        let mut child = cmd
            .stdin(if hold_stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(File::create(&out_path)?)
            .stderr(File::create(&err_path)?)
            .process_group(0)
            .spawn()?;
        let deadline = start + timeout;
        let status = loop {
            match child.try_wait()? {
                Some(s) => break Some(s),
                None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                None => {
                    cleanup::kill_group(child.id());
                    let _ = child.wait();
                    break None;
                }
            }
        };
        drop(child.stdin.take());
        Ok(Out {
            cmd: desc,
            status,
            stdout: fs::read_to_string(&out_path).unwrap_or_default(),
            stderr: fs::read_to_string(&err_path).unwrap_or_default(),
            elapsed: start.elapsed(),
        })
    }

    /// Fails the test with `out` and the diagnostics unless it succeeded.
    #[track_caller]
    pub fn expect_ok(&self, out: &Out) {
        assert!(out.success(), "{out}\n{}", self.diagnostics());
    }

    /// `podman inspect --format FORMAT NAME`, trimmed.
    #[track_caller]
    pub fn inspect(&self, name: &str, format: &str) -> String {
        let out = self.podman_ok(&["inspect", "--format", format, name]);
        out.stdout.trim().to_owned()
    }

    /// `podman ps -a`'s STATUS column for container `name` ("Up 2 seconds ago",
    /// "Paused", "Exited (0) …"), empty if podman does not list it.
    #[track_caller]
    pub fn ps_status(&self, name: &str) -> String {
        let out = self.podman_ok(&["ps", "-a", "--format", "{{.Names}}\t{{.Status}}"]);
        out.stdout
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s.trim().to_owned())
            .unwrap_or_default()
    }

    /// Polls `podman logs NAME` until it holds `text`.
    #[track_caller]
    pub fn wait_for_log(&self, name: &str, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.podman_ok(&["logs", name]);
            if out.stdout.contains(text) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "container {name} never printed {text:?}:\n{out}\n{}",
                self.diagnostics()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every runtime command line podman and conmon issued so far, arguments joined by
    /// spaces, as they gave them (without the `--root` the wrapper adds).
    pub fn runtime_calls(&self) -> Vec<String> {
        fs::read_to_string(&self.dirs.argv_log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The runtime calls that name container `id`.
    pub fn runtime_calls_for(&self, id: &str) -> Vec<String> {
        self.runtime_calls()
            .into_iter()
            .filter(|l| l.split(' ').any(|w| w == id))
            .collect()
    }

    /// The runtime subcommands issued for container `id`, e.g. `["create", "start"]`.
    pub fn runtime_subcommands(&self, id: &str) -> Vec<String> {
        self.runtime_calls_for(id)
            .iter()
            .filter_map(|l| subcommand(l))
            .collect()
    }

    /// The runtime call with subcommand `sub` for container `id`, failing the test if
    /// there is none.
    #[track_caller]
    pub fn runtime_call(&self, sub: &str, id: &str) -> String {
        let found = self
            .runtime_calls_for(id)
            .into_iter()
            .find(|l| subcommand(l).as_deref() == Some(sub));
        found.unwrap_or_else(|| panic!("podman issued no `{sub}` for {id}\n{}", self.diagnostics()))
    }

    /// `/sys/fs/cgroup/<controller>/<parent>/libpod-<id>`: where podman's cgroupfs
    /// manager puts a container (its config's `cgroupsPath`), and where `podman stats`
    /// reads it back from.
    pub fn container_cgroup(&self, controller: &str, id: &str) -> PathBuf {
        Path::new(CGROUP_ROOT)
            .join(controller)
            .join(self.cgroup_parent.trim_start_matches('/'))
            .join(format!("libpod-{id}"))
    }

    /// Fails the test unless container `id` went through the runtime under test and
    /// left neither runtime state nor cgroups behind (DESIGN rule 5).
    #[track_caller]
    pub fn assert_runtime_cleaned_up(&self, id: &str) {
        let subs = self.runtime_subcommands(id);
        assert!(
            subs.iter().any(|s| s == "create") && subs.iter().any(|s| s == "delete"),
            "podman did not drive {} through create and delete for {id}: {subs:?}\n{}",
            self.runtime.display(),
            self.diagnostics()
        );
        let state = self.dirs.runtime_state.join(id);
        assert!(
            !state.exists(),
            "runtime state {} left after delete\n{}",
            state.display(),
            self.diagnostics()
        );
        for cg in cleanup::hierarchies() {
            let leaf = cg
                .join(self.cgroup_parent.trim_start_matches('/'))
                .join(format!("libpod-{id}"));
            assert!(
                !leaf.exists(),
                "cgroup {} left after delete\n{}",
                leaf.display(),
                self.diagnostics()
            );
        }
    }

    /// What to read when a test fails: the runtime calls, the runtime's own `--log`
    /// files and podman's event log.
    pub fn diagnostics(&self) -> String {
        let mut logs = String::new();
        // Not the whole root: its overlay dirs hold (and mount) every rootfs.
        let containers = "overlay-containers";
        for log in find_files(&self.dirs.runroot.join(containers), "oci-log")
            .into_iter()
            .chain(find_files(&self.dirs.root.join(containers), "oci-log"))
        {
            let text = fs::read_to_string(&log).unwrap_or_default();
            if !text.trim().is_empty() {
                logs.push_str(&format!("{}:\n{}\n", log.display(), text.trim_end()));
            }
        }
        let events = fs::read_to_string(&self.dirs.events_log).unwrap_or_default();
        let lines: Vec<&str> = events.lines().collect();
        let tail = lines[lines.len().saturating_sub(10)..].join("\n");
        format!(
            "--- runtime calls ({} via {}):\n{}\n--- runtime --log files:\n{logs}\
             --- podman events (last lines):\n{tail}",
            self.runtime.display(),
            self.dirs.wrapper.display(),
            self.runtime_calls().join("\n")
        )
    }
}

/// Files named `name` anywhere under `dir`.
fn find_files(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let Ok(t) = e.file_type() else { continue };
        if t.is_dir() {
            out.extend(find_files(&e.path(), name));
        } else if e.file_name() == name {
            out.push(e.path());
        }
    }
    out
}

/// The subcommand in a runtime command line: the first word after the global flags
/// (`--log-format=json --log L --cgroup-manager disabled create …` gives `create`).
pub fn subcommand(line: &str) -> Option<String> {
    let mut words = line.split(' ');
    while let Some(w) = words.next() {
        if w.starts_with("--") {
            if !w.contains('=') && w != "--systemd-cgroup" && w != "--debug" {
                words.next();
            }
        } else {
            return Some(w.to_owned());
        }
    }
    None
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
