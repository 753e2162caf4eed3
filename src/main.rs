//! hoist (stage0): parse the command line, dispatch, and turn an error into one line on
//! stderr (`hoist: <what failed>: <why>`) and exit status 1.

use std::process::ExitCode;

use clap::Parser;
use hoist::cli::{Cli, Command, ImageCommand};
use hoist::commands::{self, image, Ctx};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // Usage errors exit 1 like every other bad input; --help exits 0.
            let code = u8::from(e.use_stderr());
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if cli.version {
        return finish(commands::version::run());
    }
    let ctx = Ctx {
        dir: cli.dir,
        signature_policy: cli.signature_policy,
        registries_d: cli.registries_d,
    };
    let Some(command) = cli.command else {
        eprintln!("hoist: no command given (see hoist --help)");
        return ExitCode::from(1);
    };
    finish(match &command {
        Command::Fetch(a) => commands::fetch::run(a, &ctx),
        Command::Trust(a) => commands::trust::run(a, &ctx),
        Command::Version => commands::version::run(),
        Command::Image(c) => match c {
            ImageCommand::List(a) => image::list::run(a, &ctx),
            ImageCommand::Inspect(a) => image::inspect::run(a, &ctx),
            ImageCommand::Rm(a) => image::rm::run(a, &ctx),
            ImageCommand::Gc => image::gc::run(&ctx),
            ImageCommand::Render(a) => image::render::run(a, &ctx),
            ImageCommand::Export(a) => image::export::run(a, &ctx),
            ImageCommand::Import(a) => image::import::run(a, &ctx),
        },
    })
}

fn finish(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hoist: {}", chain(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes on one line, a cause left out when the message before it
/// already ends with it.
fn chain(e: &anyhow::Error) -> String {
    let mut s = String::new();
    for cause in e.chain() {
        let t = cause.to_string().replace('\n', " ");
        if s.ends_with(&t) {
            continue;
        }
        if !s.is_empty() {
            s.push_str(": ");
        }
        s.push_str(&t);
    }
    s
}
