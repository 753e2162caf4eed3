//! hoist-runtime's entry point: parse, set up the log, dispatch, turn errors into one
//! line and exit status 1.
//!
//! The C `main` is ours (`no_main`): std's start-up would find the main thread's stack
//! guard by reading /proc/self/maps, set up an alternate signal stack and its handlers,
//! about a tenth of what a `delete` or `state` costs in all, and every container life
//! cycle runs us at least twice. What of it matters is done in
//! `sys::prepare_process`: stdio that is closed gets /dev/null, SIGPIPE is ignored.
#![no_main]

/// An exit status (`std::process::ExitCode` without std's `main`).
struct ExitCode(u8);

impl ExitCode {
    const SUCCESS: ExitCode = ExitCode(0);

    fn from(code: u8) -> ExitCode {
        ExitCode(code)
    }
}

/// The process entry point, called by libc's start-up with std's runtime not set up
/// (args and env still come through std: glibc hands them over before `main`).
#[no_mangle]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    hoist_runtime::sys::prepare_process();
    let ExitCode(code) = run();
    let _ = std::io::Write::flush(&mut std::io::stdout());
    libc::c_int::from(code)
}

use hoist_runtime::cli::{self, CgroupManager, Command, LogFormat};
use hoist_runtime::commands::{self, Ctx};
use hoist_runtime::logging;

fn run() -> ExitCode {
    let cli = match cli::parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if cli.global.version {
        println!("{}", hoist_runtime::version_text());
        return ExitCode::SUCCESS;
    }
    logging::init(
        cli.global.log.as_deref(),
        cli.global.log_format == LogFormat::Json,
        cli.global.debug,
    );
    // Commands that put processes into containers run from a protected view of us;
    // `run` mostly does without, and decides once it has read the config (selfclone).
    let sealed = matches!(cli.command, Some(Command::Create(_) | Command::Exec(_)));
    let view = match sealed.then(|| hoist_runtime::selfclone::view(&cli.global.root)) {
        Some(Err(e)) => {
            logging::error(&logging::chain(&e));
            return ExitCode::from(1);
        }
        Some(Ok(v)) => v,
        None => None,
    };
    if let Some(v) = view {
        let e = v.exec();
        logging::error(&logging::chain(&e));
        return ExitCode::from(1);
    }
    let ctx = Ctx {
        root: cli.global.root.clone(),
        systemd_cgroup: cli.global.systemd_cgroup
            || cli.global.cgroup_manager == Some(CgroupManager::Systemd),
        cgroups_disabled: cli.global.cgroup_manager == Some(CgroupManager::Disabled),
    };
    let Some(command) = cli.command else {
        eprintln!("hoist-runtime: no command given (see --help)");
        return ExitCode::from(1);
    };
    let result = match &command {
        Command::Create(a) => commands::create::run(a, &ctx),
        Command::Start(a) => commands::start::run(&a.id, &ctx),
        Command::State(a) => commands::state::run(&a.id, &ctx),
        Command::Kill(a) => commands::kill::run(a, &ctx),
        Command::Delete(a) => commands::delete::run(a, &ctx),
        Command::Run(a) => commands::run::run(a, &ctx),
        Command::Spec(a) => commands::spec::run(a),
        Command::List(a) => commands::list::run(a, &ctx),
        Command::Features => commands::features::run(),
        Command::Exec(a) => commands::exec::run(a, &ctx),
        Command::Pause(a) => commands::pause::pause(&a.id, &ctx),
        Command::Resume(a) => commands::pause::resume(&a.id, &ctx),
        Command::Ps(a) => commands::ps::run(a, &ctx),
        Command::Update(a) => commands::update::run(a, &ctx),
        Command::Events(a) => commands::events::run(a, &ctx),
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(255)),
        Err(e) => {
            logging::error(&logging::chain(e.as_ref()));
            ExitCode::from(1)
        }
    }
}
