//! hoist (stage0): the command line. Images and pods come in their own issues; for now it
//! only says what it is and points at its stage1.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("--version") | Some("version") => {
            println!("hoist version {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("hoist: the engine commands are not built yet; use hoist-runtime (stage1)");
            ExitCode::from(1)
        }
    }
}
