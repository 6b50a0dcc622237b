//! Artemo: the desktop application and the headless CLI over the same engine.

mod analyze_cmd;
mod analyze_emosem;
mod annotations_cmd;
mod cli;
mod embed_cmd;
mod eval_cmd;
mod gui;
mod train_cmd;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
