//! hoist (stage0): parse the command line, dispatch, and turn an error into one line on
//! stderr (`hoist: <what failed>: <why>`) and exit status 1.

use std::process::ExitCode;

use hoist::cli::{self, Command, ImageCommand};
use hoist::commands::{self, image, pod, Ctx};

fn main() -> ExitCode {
    let cli = match cli::parse() {
        Ok(c) => c,
        Err(e) => {
            // Usage errors exit 1 like every other bad input; --help exits 0.
            let code = u8::from(e.use_stderr());
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let g = cli.global;
    if g.version {
        return finish(commands::version::run());
    }
    // Absolute, as pods hand these paths to the stage1 and to the detached supervisor.
    let ctx = Ctx {
        registry: g.registry.options(),
        dir: std::path::absolute(&g.dir).unwrap_or(g.dir),
        net_dir: std::path::absolute(&g.net_dir).unwrap_or(g.net_dir),
        signature_policy: g.signature_policy,
        registries_d: g.registries_d,
    };
    let Some(command) = cli.command else {
        eprintln!("hoist: no command given (see hoist --help)");
        return ExitCode::from(1);
    };
    finish(match &command {
        Command::Fetch(a) => commands::fetch::run(a, &ctx),
        Command::Trust(a) => commands::trust::run(a, &ctx),
        Command::Version => commands::version::run(),
        Command::Login(a) => commands::login::login(a, &ctx),
        Command::Logout(a) => commands::login::logout(a, &ctx),
        Command::Image(c) => match c {
            ImageCommand::List(a) => image::list::run(a, &ctx),
            ImageCommand::Inspect(a) => image::inspect::run(a, &ctx),
            ImageCommand::Rm(a) => image::rm::run(a, &ctx),
            ImageCommand::Gc => image::gc::run(&ctx),
            ImageCommand::Render(a) => image::render::run(a, &ctx),
            ImageCommand::Export(a) => image::export::run(a, &ctx),
            ImageCommand::Import(a) => image::import::run(a, &ctx),
        },
        Command::Run(w) => pod::run::run(w, &ctx),
        Command::Prepare(w) => pod::run::prepare(w, &ctx),
        Command::RunPrepared(a) => pod::run::run_prepared(a, &ctx),
        Command::Unit(w) => pod::run::unit(w, &ctx),
        Command::Supervise(a) => pod::run::supervise_cmd(a, &ctx),
        Command::List(a) => pod::inspect::list(a, &ctx),
        Command::Status(a) => pod::inspect::status(a, &ctx),
        Command::CatManifest(a) => pod::inspect::cat_manifest(a, &ctx),
        Command::Logs(a) => pod::inspect::logs(a, &ctx),
        Command::Enter(a) => pod::control::enter(a, &ctx),
        Command::Stop(a) => pod::control::stop(a, &ctx),
        Command::Rm(a) => pod::control::rm(a, &ctx),
        Command::Gc(a) => pod::control::gc(a, &ctx),
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
