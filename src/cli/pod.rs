//! The pod commands' arguments (`run` and `prepare` parse their own words: see
//! `pod::args`).

use std::path::PathBuf;

use clap::Args;

use super::ListFormat;

/// `run` and `prepare`: everything after the command word, parsed by `pod::args`.
#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct RunWords {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    pub words: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PodArg {
    /// A pod UUID (or a unique prefix of one) or a pod name.
    pub pod: String,
}

#[derive(Args, Debug)]
pub struct PodListArgs {
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Wait until the pod has ended (at most DURATION, e.g. 30s; default for ever).
    #[arg(long, num_args = 0..=1, default_missing_value = "0", value_name = "DURATION")]
    pub wait: Option<String>,
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    pub pod: String,
}

#[derive(Args, Debug)]
pub struct EnterArgs {
    /// The app to enter (default: the pod's first).
    #[arg(long)]
    pub app: Option<String>,
    pub pod: String,
    /// The command (default /bin/sh).
    #[arg(last = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Keep printing until the pod ends.
    #[arg(long, short)]
    pub follow: bool,
    pub pod: String,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Kill the apps at once (SIGKILL) instead of SIGTERM and the stop timeout.
    #[arg(long)]
    pub force: bool,
    #[arg(required = true)]
    pub pods: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    #[arg(required = true)]
    pub pods: Vec<String>,
}

#[derive(Args, Debug)]
pub struct GcArgs {
    /// Exited pods younger than this are kept (default 30m; e.g. 0s, 10m, 1h).
    #[arg(long, default_value = "30m")]
    pub grace_period: String,
}

#[derive(Args, Debug)]
pub struct SuperviseArgs {
    pub uuid: String,
    /// Append the apps' output to this file (a detached pod's log).
    #[arg(long)]
    pub log: Option<PathBuf>,
}
