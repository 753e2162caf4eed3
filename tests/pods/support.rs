//! A private hoist for each pod test: its own `--dir` with the busybox image fetched
//! (as `busybox`), its own `--net-dir` with CNI networks on bridges and subnets of its
//! own (10.88.N.0/24, `hoist-tN`), and the stage1 under test. Dropping it stops and
//! removes every pod it made, deletes its bridges, and lazily unmounts anything left.
//! `assert_clean` checks what the issue asks: no mount, netns, veth, cgroup or
//! iptables rule of the test's pods left behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::run::{self, exec, Out};
use crate::common::{busybox_dir, hoist_bin, runtime_bin, scratch};

pub struct Env {
    pub dir: tempfile::TempDir,
    pub net_dir: tempfile::TempDir,
    pub stage1: String,
    bridges: Vec<String>,
    _hugetlb: Option<HugetlbOnV1>,
}

/// The stage1 as `--stage1` takes it: the hoist-runtime under test by path.
fn stage1_arg(stage1: &str) -> String {
    match stage1 {
        "hoist" => runtime_bin().display().to_string(),
        other => other.to_owned(),
    }
}

impl Env {
    pub fn new(prefix: &str, stage1: &str) -> Env {
        let hugetlb = (stage1 == "crun").then(HugetlbOnV1::take);
        let env = Env {
            dir: scratch(&format!("pod-{prefix}")),
            net_dir: scratch(&format!("net-{prefix}")),
            stage1: stage1_arg(stage1),
            bridges: Vec::new(),
            _hugetlb: hugetlb,
        };
        let layout = format!("oci:{}", busybox_dir().join("oci").display());
        let out = env.hoist(&["fetch", "--name", "busybox", &layout]);
        run::expect_ok(&out);
        env
    }

    /// Fetches the httpd image `make image` builds (busybox httpd serving /www on port
    /// 80) as `httpd`.
    pub fn fetch_httpd(&self) {
        let dir = busybox_dir().with_file_name("httpd").join("oci");
        assert!(
            dir.exists(),
            "httpd image missing at {}: run `make image`",
            dir.display()
        );
        let out = self.hoist(&[
            "fetch",
            "--name",
            "httpd",
            &format!("oci:{}", dir.display()),
        ]);
        run::expect_ok(&out);
    }

    /// A bridge the test's pods make (the `default` network's `hoist0`), deleted on drop.
    pub fn owns_bridge(&mut self, name: &str) {
        self.bridges.push(name.to_owned());
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `hoist --dir D --net-dir N ARGS…`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(hoist_bin());
        c.arg("--dir")
            .arg(self.dir.path())
            .arg("--net-dir")
            .arg(self.net_dir.path())
            .args(args)
            .stdin(Stdio::null());
        c
    }

    pub fn hoist(&self, args: &[&str]) -> Out {
        exec(self.command(args), None)
    }

    /// `hoist run --stage1 S WORDS…`.
    pub fn run(&self, words: &[&str]) -> Out {
        let mut args = vec!["run", "--stage1", &self.stage1];
        args.extend_from_slice(words);
        self.hoist(&args)
    }

    /// `hoist run --detach …`; returns the pod's UUID.
    pub fn detach(&self, words: &[&str]) -> String {
        let mut args = vec!["run", "--detach", "--stage1", &self.stage1];
        args.extend_from_slice(words);
        let out = self.hoist(&args);
        run::expect_ok(&out);
        let uuid = out.stdout.trim().to_owned();
        assert_eq!(uuid.len(), 36, "run --detach should print a UUID:\n{out}");
        uuid
    }

    /// A detached pod with `pod_flags` whose one app sleeps for 10 minutes; its UUID.
    pub fn sleeper(&self, pod_flags: &[&str]) -> String {
        let mut words = pod_flags.to_vec();
        words.extend_from_slice(&["busybox", "--exec", "/bin/sleep", "--", "600"]);
        self.detach(&words)
    }

    /// `hoist status --format json POD`.
    pub fn status(&self, pod: &str) -> Value {
        let out = self.hoist(&["status", "--format", "json", pod]);
        run::expect_ok(&out);
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("status json: {e}\n{out}"))
    }

    /// Writes a bridge network `name` on `hoist-t<n>` with subnet 10.88.<n>.0/24.
    pub fn network(&mut self, name: &str, n: u8) -> String {
        let bridge = format!("hoist-t{n}");
        let conf = serde_json::json!({
            "cniVersion": "1.0.0",
            "name": name,
            "plugins": [
                {"type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": true, "hairpinMode": true,
                 "ipam": {"type": "host-local", "routes": [{"dst": "0.0.0.0/0"}],
                          "ranges": [[{"subnet": format!("10.88.{n}.0/24")}]]}},
                {"type": "portmap", "capabilities": {"portMappings": true}},
                {"type": "firewall"}
            ]
        });
        std::fs::write(
            self.net_dir.path().join(format!("{name}.conflist")),
            conf.to_string(),
        )
        .expect("write conflist");
        self.bridges.push(bridge);
        name.to_owned()
    }

    /// Every pod directory under the store.
    pub fn pod_dirs(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for state in ["embryo", "prepared", "run", "exited-garbage"] {
            if let Ok(rd) = std::fs::read_dir(self.dir.path().join("pods").join(state)) {
                out.extend(rd.filter_map(Result::ok).map(|e| e.path()));
            }
        }
        out
    }

    /// Nothing of pod `uuid` (with addresses `ips`) is left on the host.
    pub fn assert_clean(&self, uuid: &str, ips: &[String]) {
        let mounts = mounts_under(self.dir.path());
        assert!(mounts.is_empty(), "mounts left: {mounts:?}");
        for h in run::hierarchies() {
            let d = h.join("hoist");
            if let Ok(rd) = std::fs::read_dir(&d) {
                for e in rd.filter_map(Result::ok) {
                    let name = e.file_name().to_string_lossy().into_owned();
                    assert!(
                        !name.starts_with(uuid),
                        "cgroup left: {}",
                        e.path().display()
                    );
                }
            }
        }
        let rules = iptables_save();
        for ip in ips {
            assert!(
                !rules.contains(&format!("{ip}/")) && !rules.contains(&format!("{ip}:")),
                "iptables rules for {ip} left:\n{rules}"
            );
        }
        assert!(
            !rules.contains(uuid),
            "iptables rules naming pod {uuid} left"
        );
        let root = Path::new("/run/hoist").join(uuid);
        assert!(!root.exists(), "stage1 state left: {}", root.display());
        let log = Path::new("/run/hoist").join(format!("{uuid}.log"));
        assert!(!log.exists(), "stage1 log left: {}", log.display());
        let rt = Path::new("/run/hoist").join(format!("{uuid}.rt"));
        assert!(!rt.exists(), "run-time files left: {}", rt.display());
        let procs = run::processes_mentioning(uuid);
        assert!(procs.is_empty(), "processes of pod {uuid} left: {procs:?}");
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let out = self.hoist(&["list", "--format", "json"]);
        let mut uuids = Vec::new();
        if let Ok(Value::Array(pods)) = serde_json::from_str::<Value>(&out.stdout) {
            for p in pods {
                if let Some(u) = p["uuid"].as_str() {
                    if matches!(p["state"].as_str(), Some("running" | "starting")) {
                        let _ = self.hoist(&["stop", "--force", u]);
                    }
                    uuids.push(u.to_owned());
                }
            }
        }
        let _ = self.hoist(&["gc", "--grace-period", "0s"]);
        // What a failed teardown may have left: mounts in the store, run-time tmpfs.
        let mut dirs = vec![self.dir.path().to_path_buf()];
        dirs.extend(
            uuids
                .iter()
                .map(|u| Path::new("/run/hoist").join(format!("{u}.rt"))),
        );
        for d in &dirs {
            for m in mounts_under(d).iter().rev() {
                let _ = Command::new("umount").arg("-l").arg(m).status();
            }
        }
        for d in &dirs[1..] {
            let _ = std::fs::remove_dir(d);
        }
        for b in &self.bridges {
            let _ = Command::new("ip")
                .args(["link", "del", b])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Mount points at or below `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let dir = dir.display().to_string();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&dir))
        .map(str::to_owned)
        .collect()
}

pub fn iptables_save() -> String {
    let mut all = String::new();
    for t in ["nat", "filter"] {
        if let Ok(o) = Command::new("iptables-save").args(["-t", t]).output() {
            all.push_str(&String::from_utf8_lossy(&o.stdout));
        }
    }
    all
}

/// The host's network interfaces.
pub fn links() -> String {
    Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// HTTP GET of `url` with busybox wget on the host, retried while the server starts.
pub fn http_get(url: &str) -> Option<String> {
    run::poll(Duration::from_secs(10), || {
        // (busybox 1.35's wget crashes with -T: `timeout` bounds it instead.)
        let o = Command::new("timeout")
            .arg("3")
            .arg(busybox_dir().join("rootfs/bin/busybox"))
            .args(["wget", "-q", "-O", "-", url])
            .output()
            .ok()?;
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
    })
}

/// crun 1.8 refuses this hybrid host while hugetlb is on the v2 mount (HOST.md): the
/// crun variants move it to a v1 hierarchy of its own and back. Nothing else may make
/// cgroups meanwhile: they run alone (tests/pods.rs).
struct HugetlbOnV1 {
    moved: bool,
    /// hugetlb was enabled in the v2 root's subtree_control (with no cgroup using it):
    /// disabled for the move, enabled again after.
    was_enabled: bool,
}

const UNIFIED: &str = "/sys/fs/cgroup/unified";

impl HugetlbOnV1 {
    fn take() -> HugetlbOnV1 {
        let ctrls =
            std::fs::read_to_string(format!("{UNIFIED}/cgroup.controllers")).unwrap_or_default();
        if !ctrls.split_whitespace().any(|c| c == "hugetlb") {
            return HugetlbOnV1 {
                moved: false,
                was_enabled: false,
            };
        }
        let subtree = format!("{UNIFIED}/cgroup.subtree_control");
        let was_enabled = std::fs::read_to_string(&subtree)
            .unwrap_or_default()
            .split_whitespace()
            .any(|c| c == "hugetlb");
        if was_enabled {
            let _ = std::fs::write(&subtree, "-hugetlb");
        }
        let _ = std::fs::create_dir_all("/sys/fs/cgroup/hugetlb");
        // The kernel may need a moment: a hierarchy released by the test before, or
        // the controller just switched off in the v2 root, is gone asynchronously.
        let ok = run::poll(Duration::from_secs(5), || {
            Command::new("mount")
                .args([
                    "-t",
                    "cgroup",
                    "-o",
                    "hugetlb",
                    "cgroup",
                    "/sys/fs/cgroup/hugetlb",
                ])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
                .then_some(())
        })
        .is_some();
        assert!(
            ok,
            "move hugetlb to a v1 hierarchy for crun (is hugetlb enabled in {UNIFIED}/cgroup.subtree_control?)"
        );
        HugetlbOnV1 {
            moved: true,
            was_enabled,
        }
    }
}

impl Drop for HugetlbOnV1 {
    /// Puts hugetlb back: the hierarchy returns to the v2 mount only once it has no
    /// mount and no child cgroup left, so leftovers are removed (depth first) first.
    fn drop(&mut self) {
        if !self.moved {
            return;
        }
        let mnt = Path::new("/sys/fs/cgroup/hugetlb");
        for _ in 0..50 {
            let mounted = std::fs::read_to_string("/proc/self/mountinfo")
                .unwrap_or_default()
                .lines()
                .any(|l| l.split(' ').nth(4) == Some("/sys/fs/cgroup/hugetlb"));
            if !mounted {
                let _ = std::fs::create_dir_all(mnt);
                let _ = Command::new("mount")
                    .args([
                        "-t",
                        "cgroup",
                        "-o",
                        "hugetlb",
                        "cgroup",
                        "/sys/fs/cgroup/hugetlb",
                    ])
                    .status();
            }
            remove_child_cgroups(mnt);
            let _ = Command::new("umount").arg(mnt).status();
            std::thread::sleep(Duration::from_millis(100));
            let ctrls = std::fs::read_to_string(format!("{UNIFIED}/cgroup.controllers"))
                .unwrap_or_default();
            if ctrls.split_whitespace().any(|c| c == "hugetlb") {
                let _ = std::fs::remove_dir(mnt);
                if self.was_enabled {
                    let _ = std::fs::write(format!("{UNIFIED}/cgroup.subtree_control"), "+hugetlb");
                }
                return;
            }
        }
        eprintln!("warning: hugetlb did not return to {UNIFIED}");
    }
}

/// rmdir of every cgroup below `dir`, deepest first.
fn remove_child_cgroups(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.filter_map(Result::ok) {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_child_cgroups(&e.path());
            let _ = std::fs::remove_dir(e.path());
        }
    }
}
