//! A private containerd for one test: its config, root, state and socket in a scratch
//! dir, the busybox image imported, `ctr` calls bounded in time, and a wrapper that records
//! every command line the runc.v2 shim gives the runtime before exec'ing it. Dropping it
//! tears everything down (see `cleanup`), whether the test passed or panicked.

use std::ffi::OsStr;
use std::fmt;
use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::cleanup;
use crate::setup;

/// How long one `ctr` call may take before the test gives up on it: a runtime that hangs
/// in `create` must fail the test, not wedge the run.
pub const CTR_TIMEOUT: Duration = Duration::from_secs(10);
/// Cleanup calls get less: they run after a failure has already been found.
pub const CLEANUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the runc.v2 shim keeps the runtime's `--root`, whatever containerd's `state` is
/// (HOST.md): `<RUNC_ROOT>/<namespace>`.
pub const RUNC_ROOT: &str = "/run/containerd/runc";

/// The name the imported image gets: `--base-name` plus the layout's `ref.name` (`latest`).
const IMAGE: &str = "hoist.test/busybox:latest";

/// A finished (or timed-out) command: what ran, how it ended, what it printed.
pub struct Out {
    pub cmd: String,
    /// `None` when the command outran its timeout and was killed.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
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
            Some(s) => writeln!(f, "`{}` ended with {s}", self.cmd)?,
            None => writeln!(f, "`{}` timed out and was killed", self.cmd)?,
        }
        writeln!(f, "--- stdout:\n{}", self.stdout)?;
        write!(f, "--- stderr:\n{}", self.stderr)
    }
}

/// One private containerd and the namespace a test works in.
pub struct Containerd {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) child: Option<Child>,
    /// The containerd namespace; every container id starts with it, so fifo dirs and
    /// runtime state can be told apart from other tests'.
    pub ns: String,
    /// The real runtime under test.
    pub(crate) runtime: PathBuf,
    /// The argv-recording wrapper handed to `ctr run --runc-binary`.
    wrapper: PathBuf,
    seq: AtomicU32,
}

impl Containerd {
    /// Starts containerd for the test named by `tag` (letters and digits) and imports
    /// the busybox image into a namespace of its own.
    #[track_caller]
    pub fn start(tag: &str) -> Self {
        setup::require_tools();
        let runtime = setup::runtime_under_test();
        let dir = crate::common::scratch("containerd");
        let image_tar = setup::busybox_oci_tar(dir.path());

        static STARTED: AtomicU32 = AtomicU32::new(0);
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let ns = format!("hoist-{tag}-{}-{n}", std::process::id());

        let wrapper = dir.path().join("runtime");
        setup::write_wrapper(&wrapper, &dir.path().join("runtime-argv.log"), &runtime);
        let config = dir.path().join("config.toml");
        fs::write(&config, setup::config_toml(dir.path())).expect("write config.toml");

        let log = File::create(dir.path().join("containerd.log")).expect("create containerd.log");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup containerd.log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("spawn containerd");

        // From here on the guard exists: a panic below still tears containerd down.
        let mut me = Containerd {
            dir,
            child: Some(child),
            ns,
            runtime,
            wrapper,
            seq: AtomicU32::new(0),
        };
        me.wait_ready();
        let out = me.ctr(&[
            OsStr::new("images"),
            OsStr::new("import"),
            OsStr::new("--base-name"),
            OsStr::new("hoist.test/busybox"),
            image_tar.as_os_str(),
        ]);
        me.expect_ok(&out);
        let listed = me.ctr_ok(&["images", "ls", "-q"]);
        assert!(
            listed.stdout.lines().any(|l| l == IMAGE),
            "imported image is not named {IMAGE} (does index.json annotate the manifest \
             with org.opencontainers.image.ref.name=latest?)\n{listed}"
        );
        me
    }

    /// The socket containerd serves on.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("containerd.sock")
    }

    /// A container id unique to this test: `<namespace>-<name>`.
    pub fn id(&self, name: &str) -> String {
        format!("{}-{name}", self.ns)
    }

    /// `ctr run --runc-binary <wrapper> OPTS… IMAGE ID CMD…` as ctr arguments.
    pub fn run_args(&self, opts: &[&str], id: &str, cmd: &[&str]) -> Vec<String> {
        let mut v = vec![
            "run".to_owned(),
            "--runc-binary".to_owned(),
            self.wrapper.display().to_string(),
        ];
        v.extend(opts.iter().map(|s| (*s).to_owned()));
        v.push(IMAGE.to_owned());
        v.push(id.to_owned());
        v.extend(cmd.iter().map(|s| (*s).to_owned()));
        v
    }

    fn ctr_command(&self) -> Command {
        let mut c = Command::new("ctr");
        c.arg("--address")
            .arg(self.socket())
            .arg("--namespace")
            .arg(&self.ns);
        c
    }

    /// Runs `ctr ARGS…` against this containerd, in this test's namespace.
    #[track_caller]
    pub fn ctr<S: AsRef<OsStr>>(&self, args: &[S]) -> Out {
        self.ctr_within(args, CTR_TIMEOUT)
            .unwrap_or_else(|e| panic!("spawn ctr: {e}"))
    }

    pub(crate) fn ctr_within<S: AsRef<OsStr>>(
        &self,
        args: &[S],
        timeout: Duration,
    ) -> std::io::Result<Out> {
        let mut c = self.ctr_command();
        c.args(args);
        self.bounded(&mut c, timeout)
    }

    /// Like `ctr`, and fails the test unless ctr succeeded.
    #[track_caller]
    pub fn ctr_ok<S: AsRef<OsStr>>(&self, args: &[S]) -> Out {
        let out = self.ctr(args);
        self.expect_ok(&out);
        out
    }

    /// Runs `ctr ARGS…` on a fresh pseudo-terminal, as `script -qec "ctr …" /dev/null`
    /// does, for `ctr run -t` and `ctr task exec -t`. Carriage returns are dropped from
    /// the output.
    #[track_caller]
    pub fn ctr_in_terminal<S: AsRef<OsStr>>(&self, args: &[S]) -> Out {
        let ctr = self.ctr_command();
        let mut line = sh_quote(ctr.get_program());
        for a in ctr.get_args().chain(args.iter().map(AsRef::as_ref)) {
            line.push(' ');
            line.push_str(&sh_quote(a));
        }
        let mut c = Command::new("script");
        c.args(["-q", "-e", "-c"]).arg(&line).arg("/dev/null");
        // script runs the line with $SHELL -c; pin it so the quoting above holds.
        c.env("SHELL", "/bin/sh");
        let mut out = self
            .bounded(&mut c, CTR_TIMEOUT)
            .unwrap_or_else(|e| panic!("spawn script: {e}"));
        out.stdout = out.stdout.replace('\r', "");
        out
    }

    /// Runs `cmd` in its own process group with stdin closed and its output in files,
    /// killing the whole group if it outlives `timeout`.
    fn bounded(&self, cmd: &mut Command, timeout: Duration) -> std::io::Result<Out> {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let out_path = self.dir.path().join(format!("cmd-{n}.stdout"));
        let err_path = self.dir.path().join(format!("cmd-{n}.stderr"));
        let desc = describe(cmd);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(File::create(&out_path)?)
            .stderr(File::create(&err_path)?)
            .process_group(0)
            .spawn()?;
        let deadline = Instant::now() + timeout;
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
        Ok(Out {
            cmd: desc,
            status,
            stdout: fs::read_to_string(&out_path).unwrap_or_default(),
            stderr: fs::read_to_string(&err_path).unwrap_or_default(),
        })
    }

    /// Fails the test with `out` and the diagnostics unless it succeeded.
    #[track_caller]
    pub fn expect_ok(&self, out: &Out) {
        assert!(out.success(), "{out}\n{}", self.diagnostics());
    }

    /// Polls `ctr task ls` until task `id` has `status` (RUNNING, PAUSED, STOPPED) and
    /// returns its pid as listed.
    #[track_caller]
    pub fn wait_status(&self, id: &str, status: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.ctr_ok(&["task", "ls"]);
            let row = out
                .stdout
                .lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>())
                .find(|f| f.first() == Some(&id));
            if let Some(f) = &row {
                if f.get(2) == Some(&status) {
                    return f.get(1).map(|s| (*s).to_owned()).unwrap_or_default();
                }
            }
            assert!(
                Instant::now() < deadline,
                "task {id} never became {status}:\n{out}\n{}",
                self.diagnostics()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every runtime command line the shim issued so far, arguments joined by spaces.
    pub fn runtime_calls(&self) -> Vec<String> {
        fs::read_to_string(self.dir.path().join("runtime-argv.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The runtime subcommands issued for container `id`, e.g. `["create", "start"]`.
    pub fn runtime_subcommands(&self, id: &str) -> Vec<String> {
        self.runtime_calls()
            .iter()
            .filter(|l| l.split(' ').any(|w| w == id))
            .filter_map(|l| subcommand(l))
            .collect()
    }

    /// The runtime's state dir for container `id`: `--root` is `RUNC_ROOT/<ns>`.
    pub fn runtime_state(&self, id: &str) -> PathBuf {
        Path::new(RUNC_ROOT).join(&self.ns).join(id)
    }

    /// Fails the test unless container `id` went through the runtime under test and
    /// left neither runtime state nor cgroups behind (DESIGN rule 5).
    #[track_caller]
    pub fn assert_runtime_cleaned_up(&self, id: &str) {
        let subs = self.runtime_subcommands(id);
        assert!(
            subs.iter().any(|s| s == "create") && subs.iter().any(|s| s == "delete"),
            "containerd did not drive {} through create and delete for {id}: {subs:?}\n{}",
            self.runtime.display(),
            self.diagnostics()
        );
        let state = self.runtime_state(id);
        assert!(
            !state.exists(),
            "runtime state {} left after delete\n{}",
            state.display(),
            self.diagnostics()
        );
        for cg in cleanup::cgroup_dirs(&self.ns) {
            let leaf = cg.join(id);
            assert!(
                !leaf.exists(),
                "cgroup {} left after delete\n{}",
                leaf.display(),
                self.diagnostics()
            );
        }
    }

    /// What to read when a test fails: the runtime calls and containerd's log.
    pub fn diagnostics(&self) -> String {
        let log = fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(25)..].join("\n");
        format!(
            "--- runtime calls ({}):\n{}\n--- containerd log (last lines):\n{tail}",
            self.runtime.display(),
            self.runtime_calls().join("\n")
        )
    }

    /// Waits until containerd answers on its socket, failing with its log if it exits.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.socket().exists() {
                let out = self.ctr_within(&["version"], CLEANUP_TIMEOUT);
                if out.is_ok_and(|o| o.success()) {
                    return;
                }
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            assert!(
                exited.is_none(),
                "containerd exited ({exited:?}) before serving\n{}",
                self.diagnostics()
            );
            assert!(
                Instant::now() < deadline,
                "containerd not serving on {} after 10 s\n{}",
                self.socket().display(),
                self.diagnostics()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The subcommand in a runtime command line: the first word after the global flags
/// (`--root R --log L --log-format json create …` gives `create`).
fn subcommand(line: &str) -> Option<String> {
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

/// `s` as one single-quoted shell word.
pub fn sh_quote(s: &OsStr) -> String {
    format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"))
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
