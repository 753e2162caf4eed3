//! runc's command line, as containerd's shim, conmon and podman call it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "hoist-runtime",
    about = "hoist's stage1: an OCI runtime with runc's command line",
    disable_version_flag = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The options every command takes (before or after the command's name).
#[derive(Args, Debug)]
pub struct Global {
    /// Where container state lives.
    #[arg(long, global = true, default_value = "/run/hoist-runtime")]
    pub root: PathBuf,
    /// Log file (default: none; errors always go to stderr).
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    #[arg(long = "log-format", global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Also log debug lines.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Read cgroupsPath as systemd's slice:prefix:name.
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// crun's spelling: cgroupfs, systemd, or disabled (the container stays in the
    /// caller's cgroup and gets no resource limits; podman's --cgroups=disabled).
    #[arg(long = "cgroup-manager", global = true, value_enum)]
    pub cgroup_manager: Option<CgroupManager>,
    /// Accepted for runc compatibility; rootless mode is chosen from the config.
    #[arg(long, global = true, hide = true)]
    pub rootless: Option<String>,
    /// Accepted for runc compatibility (checkpointing is not supported).
    #[arg(long, global = true, hide = true)]
    pub criu: Option<String>,
    /// Print the version (three lines, like runc's).
    #[arg(short = 'v', long)]
    pub version: bool,
}

/// Global options that take a value (as a separate argument unless written `--x=v`).
const GLOBAL_VALUED: &[&str] = &[
    "--root",
    "--log",
    "--log-format",
    "--cgroup-manager",
    "--rootless",
    "--criu",
];

/// Parses our arguments. clap builds the whole command tree before it looks at them,
/// which costs more than most of what `delete` or `state` then do; so a call naming a
/// command (and not asking for help) is parsed against that command's tree alone.
/// Everything else (help, no command, an unknown one) gets the full tree, as errors do.
pub fn parse() -> Result<Cli, clap::Error> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    parse_from(&args)
}

fn parse_from(args: &[std::ffi::OsString]) -> Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let Some(sub) = command_named(args).and_then(single_command) else {
        return Cli::try_parse_from(args);
    };
    let tree = Global::augment_args(clap::Command::new("hoist-runtime").disable_version_flag(true))
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

/// The tree of one command, as `Command`'s derive builds it (its help text aside).
fn single_command(name: &str) -> Option<clap::Command> {
    fn tree<A: Args>(name: &'static str) -> clap::Command {
        A::augment_args(clap::Command::new(name))
    }
    Some(match name {
        "create" => tree::<CreateArgs>("create"),
        "start" => tree::<IdArg>("start"),
        "state" => tree::<IdArg>("state"),
        "kill" => tree::<KillArgs>("kill"),
        "delete" => tree::<DeleteArgs>("delete"),
        "run" => tree::<RunArgs>("run"),
        "spec" => tree::<SpecArgs>("spec"),
        "list" => tree::<ListArgs>("list"),
        "features" => clap::Command::new("features"),
        "exec" => tree::<ExecArgs>("exec"),
        "pause" => tree::<IdArg>("pause"),
        "resume" => tree::<IdArg>("resume"),
        "ps" => tree::<PsArgs>("ps"),
        "update" => tree::<UpdateArgs>("update"),
        "events" => tree::<EventsArgs>("events"),
        _ => return None,
    })
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupManager {
    Cgroupfs,
    Systemd,
    Disabled,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container; its process waits for `start`.
    Create(CreateArgs),
    /// Start a created container's process.
    Start(IdArg),
    /// Print a container's state as JSON.
    State(IdArg),
    /// Send a signal to a container's init (or every process with --all).
    Kill(KillArgs),
    /// Delete a container and everything it held.
    Delete(DeleteArgs),
    /// Create and start a container; in the foreground, wait and pass on its exit status.
    Run(RunArgs),
    /// Write a default config.json.
    Spec(SpecArgs),
    /// List containers.
    List(ListArgs),
    /// Print the runtime-spec features document.
    Features,
    /// Run another process inside a running container.
    Exec(ExecArgs),
    /// Freeze every process of a container.
    Pause(IdArg),
    /// Thaw a paused container.
    Resume(IdArg),
    /// List the processes of a container.
    Ps(PsArgs),
    /// Change the resource limits of a live container.
    Update(UpdateArgs),
    /// Print stats and OOM events as JSON.
    Events(EventsArgs),
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// A linux.resources JSON file, or - for stdin.
    #[arg(short, long)]
    pub resources: Option<String>,
    /// Memory limit (bytes, or with k/m/g suffix; -1 unlimited).
    #[arg(long)]
    pub memory: Option<String>,
    /// Memory plus swap limit.
    #[arg(long = "memory-swap")]
    pub memory_swap: Option<String>,
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Accepted for runc compatibility (kernel memory limits are gone from the kernel).
    #[arg(long = "kernel-memory", hide = true)]
    pub kernel_memory: Option<String>,
    #[arg(long = "kernel-memory-tcp", hide = true)]
    pub kernel_memory_tcp: Option<String>,
    /// runc spells it --cpu-share; --cpu-shares is accepted too.
    #[arg(long = "cpu-share", alias = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Accepted for runc compatibility (no Intel RDT support).
    #[arg(long = "l3-cache-schema", hide = true)]
    pub l3_cache_schema: Option<String>,
    #[arg(long = "mem-bw-schema", hide = true)]
    pub mem_bw_schema: Option<String>,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Print one stats event and exit.
    #[arg(long)]
    pub stats: bool,
    /// How often the stream prints stats.
    #[arg(long, default_value = "5s")]
    pub interval: String,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// A process.json (runtime-spec `process`) instead of ARGS and the flags below.
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Allocate a pty (sent to --console-socket).
    #[arg(short, long)]
    pub tty: bool,
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Return once the process runs.
    #[arg(short, long)]
    pub detach: bool,
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    #[arg(long)]
    pub cwd: Option<String>,
    /// KEY=VALUE added to the environment.
    #[arg(short, long)]
    pub env: Vec<String>,
    /// UID[:GID]
    #[arg(short, long)]
    pub user: Option<String>,
    /// Supplementary group ids.
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// Add a capability to the process's sets.
    #[arg(short, long)]
    pub cap: Vec<String>,
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Accepted for runc compatibility (no LSM support yet).
    #[arg(long = "process-label", hide = true)]
    pub process_label: Option<String>,
    #[arg(long = "apparmor", hide = true)]
    pub apparmor: Option<String>,
    pub id: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    #[arg(short, long, value_enum, default_value = "table")]
    pub format: ListFormat,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct IdArg {
    pub id: String,
}

#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// The bundle directory (default: the current directory).
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Write the init's pid here.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// A unix socket to send the pty master to (process.terminal).
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Use MS_MOVE and chroot instead of pivot_root (for a ramfs root).
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Accepted for runc compatibility: no session keyring is ever made.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass fds 3..3+N on to the container process.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal every process of the container.
    #[arg(short, long)]
    pub all: bool,
    pub id: String,
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// Kill the container first if it still runs.
    #[arg(short, long)]
    pub force: bool,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Return once the container started, leaving it running.
    #[arg(short, long)]
    pub detach: bool,
    /// Keep the container's state after it exits (foreground only).
    #[arg(long)]
    pub keep: bool,
}

#[derive(Args, Debug)]
pub struct SpecArgs {
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Include hoist's default seccomp profile.
    #[arg(long)]
    pub seccomp: bool,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[arg(short, long, value_enum, default_value = "table")]
    pub format: ListFormat,
    /// Print only the ids.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFormat {
    Table,
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parsed both ways: the single-command tree and the full one must agree.
    fn parse(v: &[&str]) -> Cli {
        let args: Vec<std::ffi::OsString> = v.iter().map(Into::into).collect();
        let fast = parse_from(&args).unwrap();
        let full = Cli::try_parse_from(v).unwrap();
        assert_eq!(format!("{fast:?}"), format!("{full:?}"), "{v:?}");
        fast
    }

    #[test]
    fn every_command_has_a_single_tree() {
        use clap::CommandFactory;
        for c in Cli::command().get_subcommands() {
            let name = c.get_name();
            assert!(
                single_command(name).is_some(),
                "no single tree for `{name}`"
            );
        }
    }

    #[test]
    fn command_found_past_global_options() {
        let a = |v: &[&str]| -> Vec<std::ffi::OsString> { v.iter().map(Into::into).collect() };
        assert_eq!(
            command_named(&a(&["rt", "--root", "run", "state", "x"])),
            Some("state")
        );
        assert_eq!(
            command_named(&a(&["rt", "--root=/r", "--debug", "delete", "x"])),
            Some("delete")
        );
        assert_eq!(command_named(&a(&["rt", "state", "--help"])), None);
        assert_eq!(command_named(&a(&["rt", "--debug"])), None);
    }

    #[test]
    fn errors_come_from_the_full_tree() {
        let args: Vec<std::ffi::OsString> = ["rt", "delete"].iter().map(Into::into).collect();
        let e = parse_from(&args).unwrap_err().to_string();
        assert!(e.contains("<ID>") || e.contains("required"), "{e}");
    }

    #[test]
    fn containerd_create_line() {
        let c = parse(&[
            "rt",
            "--root",
            "/run/containerd/runc/default",
            "--log",
            "/b/log.json",
            "--log-format",
            "json",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/b/init.pid",
            "--console-socket",
            "/tmp/s",
            "id1",
        ]);
        assert_eq!(c.global.log_format, LogFormat::Json);
        let Some(Command::Create(a)) = c.command else {
            panic!()
        };
        assert_eq!(a.id, "id1");
        assert_eq!(a.pid_file.unwrap(), PathBuf::from("/b/init.pid"));
    }

    #[test]
    fn globals_after_subcommand_and_kill_defaults() {
        let c = parse(&["rt", "kill", "--root", "/r", "x"]);
        assert_eq!(c.global.root, PathBuf::from("/r"));
        let Some(Command::Kill(k)) = c.command else {
            panic!()
        };
        assert_eq!(k.signal, "SIGTERM");
        let c = parse(&["rt", "kill", "--all", "x", "KILL"]);
        let Some(Command::Kill(k)) = c.command else {
            panic!()
        };
        assert!(k.all);
        assert_eq!(k.signal, "KILL");
    }

    #[test]
    fn run_flags() {
        let c = parse(&["rt", "run", "-d", "-b", "/b", "--preserve-fds", "2", "x"]);
        let Some(Command::Run(r)) = c.command else {
            panic!()
        };
        assert!(r.detach);
        assert_eq!(r.create.preserve_fds, 2);
    }
}
