//! Artemo: the desktop application and the headless CLI over the same engine.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = artemo::cli::Cli::parse();
    artemo::logging::init(args.is_gui());
    match artemo::cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", artemo::cli::error_text(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
