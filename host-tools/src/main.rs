//! The `edgediff` command.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // A closed pipe (`edgediff inspect m.pack | head`) ends the program quietly; any other
    // panic is reported in one line, without a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let msg = info.to_string();
        if msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        eprintln!("error: internal failure: {msg}");
        std::process::exit(2);
    }));
    let cli = edgediff::cli::Cli::parse();
    match edgediff::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
