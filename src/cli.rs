//! hoist's command line: `hoist [--dir DIR] fetch …`, `hoist image …`, `hoist trust …`,
//! the pod commands (`run`, `prepare`, `list`, `status`, `enter`, `logs`, `stop`, `rm`,
//! `gc`, …), `hoist --version`.

pub mod pod;
mod trust;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::image::store::DEFAULT_DIR;
use crate::net::DEFAULT_NET_DIR;
use pod::{
    EnterArgs, GcArgs, LogsArgs, PodArg, PodListArgs, RunWords, StatusArgs, StopArgs, SuperviseArgs,
};

mod registry;
pub use registry::{LoginArgs, LogoutArgs, RegistryFlags};
pub use trust::TrustArgs;

#[derive(Parser, Debug)]
#[command(
    name = "hoist",
    about = "hoist: a daemonless container engine (stage0)",
    disable_version_flag = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The options every command takes.
#[derive(Args, Debug)]
pub struct Global {
    /// Where images (an OCI layout), unpacked layers and pods live.
    #[arg(long, global = true, default_value = DEFAULT_DIR)]
    pub dir: PathBuf,
    /// Where CNI network configs (`NAME.conflist`) live.
    #[arg(long, global = true, default_value = DEFAULT_NET_DIR)]
    pub net_dir: PathBuf,
    /// The signature policy (containers-policy.json(5)); default
    /// ~/.config/containers/policy.json, else /etc/containers/policy.json.
    #[arg(long, global = true, value_name = "FILE")]
    pub signature_policy: Option<PathBuf>,
    /// Where lookaside signature stores are configured (containers-registries.d(5)).
    #[arg(long = "registries.d", global = true, value_name = "DIR")]
    pub registries_d: Option<PathBuf>,
    /// Print the version.
    #[arg(long)]
    pub version: bool,
    #[command(flatten)]
    pub registry: RegistryFlags,
}

/// The global options that take a value (for finding the command's name).
const GLOBAL_VALUED: &[&str] = &[
    "--dir",
    "--net-dir",
    "--signature-policy",
    "--registries.d",
    "--insecure-registry",
    "--registries-conf",
    "--certs-dir",
    "--authfile",
];

/// Parses hoist's arguments. clap builds the whole command tree (every command's
/// arguments, the globals propagated into each) before it looks at them, which cost
/// more than half of what `hoist run` computes before its pod starts; so a call naming
/// one of the commands below (and not asking for help) is parsed against the globals
/// and that command alone. Everything else, and any error, gets the full tree.
pub fn parse() -> Result<Cli, clap::Error> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    parse_from(&args)
}

fn parse_from(args: &[std::ffi::OsString]) -> Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let Some(sub) = command_named(args).and_then(single_command) else {
        return Cli::try_parse_from(args);
    };
    let tree = Global::augment_args(clap::Command::new("hoist").disable_version_flag(true))
        .subcommand(sub);
    match tree.try_get_matches_from(args) {
        Ok(m) => Ok(Cli {
            global: Global::from_arg_matches(&m)?,
            command: Some(Command::from_arg_matches(&m)?),
        }),
        // The full tree's message (its usage line names every command).
        Err(_) => Cli::command()
            .try_get_matches_from(args)
            .and_then(|m| Cli::from_arg_matches(&m)),
    }
}

/// The command's name in `args`: the first argument that is neither an option nor an
/// option's value. `None` when help is asked for anywhere.
fn command_named(args: &[std::ffi::OsString]) -> Option<&str> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        return None;
    }
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let a = a.to_str()?;
        if GLOBAL_VALUED.contains(&a) {
            it.next();
        } else if !a.starts_with('-') {
            return Some(a);
        }
    }
    None
}

/// The tree of one of the commands pods use most, as `Command`'s derive builds it (its
/// help text aside).
fn single_command(name: &str) -> Option<clap::Command> {
    fn tree<A: Args>(name: &'static str) -> clap::Command {
        A::augment_args(clap::Command::new(name))
    }
    Some(match name {
        "run" => tree::<RunWords>("run"),
        "prepare" => tree::<RunWords>("prepare"),
        "run-prepared" => tree::<PodArg>("run-prepared"),
        "supervise" => tree::<SuperviseArgs>("supervise"),
        "list" => tree::<PodListArgs>("list"),
        "status" => tree::<StatusArgs>("status"),
        "stop" => tree::<StopArgs>("stop"),
        "rm" => tree::<pod::RmArgs>("rm"),
        "gc" => tree::<GcArgs>("gc"),
        "enter" => tree::<EnterArgs>("enter"),
        _ => return None,
    })
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Copy an image into the store, verify every blob, unpack its layers; prints the
    /// manifest digest last.
    Fetch(FetchArgs),
    /// Work with the images in the store.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Trust a key for images under a prefix (writes the signature policy), list or
    /// remove trusted prefixes.
    Trust(TrustArgs),
    /// Print the version.
    Version,
    /// Run a pod in the foreground (or --detach): hoist run [POD FLAGS] IMAGE [APP
    /// FLAGS] [-- ARGS] [--- IMAGE …]; see hoist run --help.
    Run(RunWords),
    /// Prepare a pod without starting it; prints its UUID (then `run-prepared`).
    Prepare(RunWords),
    /// Run a prepared pod.
    RunPrepared(PodArg),
    /// List the pods.
    #[command(alias = "ls")]
    List(PodListArgs),
    /// A pod's state, apps, exit statuses and addresses.
    Status(StatusArgs),
    /// Run a command in an app of a running pod (through the stage1's exec).
    Enter(EnterArgs),
    /// Print a detached pod's output.
    Logs(LogsArgs),
    /// Stop pods: SIGTERM to the apps, SIGKILL after the stop timeout.
    Stop(StopArgs),
    /// Remove ended pods.
    Rm(pod::RmArgs),
    /// Tear down pods whose supervisor died, and remove exited pods past the grace
    /// period.
    Gc(GcArgs),
    /// Print a pod's manifest.
    CatManifest(PodArg),
    /// Print a systemd service unit that runs `hoist run` with these words.
    Unit(RunWords),
    /// The supervisor of a detached pod (started by `run --detach`).
    #[command(hide = true)]
    Supervise(SuperviseArgs),
    /// Check credentials against a registry and save them (in auth.json, 0600).
    Login(LoginArgs),
    /// Remove saved registry credentials.
    Logout(LogoutArgs),
}

#[derive(Args, Debug)]
pub struct FetchArgs {
    /// The platform to pick from an index or manifest list (os/arch[/variant]; default
    /// the host's).
    #[arg(long)]
    pub platform: Option<String>,
    /// Tag the image with this name instead of the one its source gives.
    #[arg(long)]
    pub name: Option<String>,
    /// docker://HOST[:PORT]/REPO[:TAG|@DIGEST], a bare REPO[:TAG] (Docker Hub),
    /// oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE[:REPO:TAG].
    pub image: String,
}

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// List the tagged images.
    #[command(alias = "ls")]
    List(ListArgs),
    /// Print an image's manifest and config as JSON.
    Inspect(ImageArg),
    /// Remove tags (a sha256: digest removes every tag of that manifest); `gc` frees
    /// the space.
    Rm(RmArgs),
    /// Delete blobs and unpacked layers no tagged image uses.
    Gc,
    /// Copy an image's flattened root filesystem into DIR.
    Render(RenderArgs),
    /// Write an image to oci-archive:FILE[:TAG] or docker-archive:FILE[:REPO:TAG].
    Export(ExportArgs),
    /// Make a one-layer image from a root filesystem directory or a tarball.
    Import(ImportArgs),
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ListFormat {
    #[default]
    Table,
    Json,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

#[derive(Args, Debug)]
pub struct ImageArg {
    /// A name (`busybox`, `docker.io/library/busybox:latest`) or a manifest digest.
    pub image: String,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RenderArgs {
    pub image: String,
    /// A directory that does not exist yet or is empty.
    #[arg(value_name = "DIR")]
    pub dest: PathBuf,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    pub image: String,
    /// oci-archive:FILE[:TAG] or docker-archive:FILE[:REPO:TAG]
    pub dest: String,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// A root filesystem directory, or a tar (plain, gzip or zstd).
    pub source: PathBuf,
    /// The new image's name (`localhost/` is added when it names no registry).
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// A command parsed against its own tree gives what the full tree gives, and every
    /// error is the full tree's.
    #[test]
    fn single_command_trees_parse_as_the_full_tree() {
        let calls: &[&[&str]] = &[
            &["run", "--net", "none", "busybox", "--exec", "/bin/true"],
            &["--dir", "/d", "run", "busybox", "--", "-x", "--dir", "y"],
            &["run", "--dir", "/e", "busybox"],
            &["--net-dir=/n", "run", "--detach", "busybox", "---", "b"],
            &["--insecure-registry", "h:1", "prepare", "busybox"],
            &["run-prepared", "abc"],
            &["--dir", "/d", "supervise", "--log", "/l", "u"],
            &["list", "--format", "json"],
            &["status", "--wait=2s", "p"],
            &["stop", "--force", "a", "b"],
            &["rm", "a"],
            &["gc", "--grace-period", "0s"],
            &["enter", "--app", "x", "p", "--", "ls", "-l"],
            &["--authfile", "/a", "--dir", "/d", "status", "p"],
            // Errors: an unknown flag, a missing value, a missing operand.
            &["stop", "--bogus", "a"],
            &["--dir"],
            &["status"],
            &["run-prepared"],
        ];
        for call in calls {
            let args: Vec<std::ffi::OsString> = std::iter::once("hoist")
                .chain(call.iter().copied())
                .map(Into::into)
                .collect();
            assert!(
                command_named(&args).and_then(single_command).is_some() || call == &["--dir"],
                "{call:?} is not parsed alone"
            );
            let full = Cli::try_parse_from(&args);
            let single = parse_from(&args);
            match (full, single) {
                (Ok(f), Ok(s)) => assert_eq!(format!("{f:?}"), format!("{s:?}"), "{call:?}"),
                (Err(f), Err(s)) => assert_eq!(f.to_string(), s.to_string(), "{call:?}"),
                (f, s) => panic!("{call:?}: full tree {f:?}, single {s:?}"),
            }
        }
        // Help and other commands go to the full tree.
        for call in [&["run", "--help"][..], &["-h"], &["image", "list"], &["ls"]] {
            let args: Vec<std::ffi::OsString> = std::iter::once("hoist")
                .chain(call.iter().copied())
                .map(Into::into)
                .collect();
            assert!(
                command_named(&args).and_then(single_command).is_none(),
                "{call:?}"
            );
        }
    }

    #[test]
    fn parses() {
        Cli::command().debug_assert();
        let c = Cli::try_parse_from([
            "hoist",
            "--dir",
            "/d",
            "fetch",
            "--platform",
            "linux/arm64",
            "oci:/x",
        ])
        .unwrap();
        assert_eq!(c.global.dir, PathBuf::from("/d"));
        let Some(Command::Fetch(f)) = c.command else {
            panic!("fetch")
        };
        assert_eq!(f.platform.as_deref(), Some("linux/arm64"));
        let c = Cli::try_parse_from(["hoist", "image", "list", "--format", "json", "--dir", "/e"])
            .unwrap();
        assert_eq!(c.global.dir, PathBuf::from("/e"));
        assert!(matches!(
            c.command,
            Some(Command::Image(ImageCommand::List(ListArgs {
                format: ListFormat::Json
            })))
        ));
        assert!(Cli::try_parse_from(["hoist", "image", "rm"]).is_err());
        assert!(
            Cli::try_parse_from(["hoist", "--version"])
                .unwrap()
                .global
                .version
        );
        // The render destination is not the global --dir.
        let c =
            Cli::try_parse_from(["hoist", "--dir", "/s", "image", "render", "x", "/out"]).unwrap();
        assert_eq!(c.global.dir, PathBuf::from("/s"));
        let Some(Command::Image(ImageCommand::Render(r))) = c.command else {
            panic!("render")
        };
        assert_eq!(r.dest, PathBuf::from("/out"));
        // Trust: a key needs --prefix; --list stands alone.
        let c = Cli::try_parse_from([
            "hoist",
            "--signature-policy",
            "/p.json",
            "--registries.d",
            "/r",
            "trust",
            "--prefix",
            "example.com/a",
            "/k.gpg",
        ])
        .unwrap();
        assert_eq!(c.global.signature_policy, Some(PathBuf::from("/p.json")));
        assert_eq!(c.global.registries_d, Some(PathBuf::from("/r")));
        assert!(matches!(
            c.command,
            Some(Command::Trust(TrustArgs { key: Some(_), .. }))
        ));
        assert!(Cli::try_parse_from(["hoist", "trust", "/k.gpg"]).is_err());
        assert!(Cli::try_parse_from(["hoist", "trust"]).is_err());
        assert!(Cli::try_parse_from(["hoist", "trust", "--list", "--format", "json"]).is_ok());
        assert!(Cli::try_parse_from(["hoist", "trust", "--list", "--prefix", "x"]).is_err());
        assert!(Cli::try_parse_from(["hoist", "trust", "--remove", "--prefix", "a.io/x"]).is_ok());
        assert!(Cli::try_parse_from(["hoist", "trust", "--remove"]).is_err());
    }
}
