//! The `edgediff` command.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = edgediff::cli::Cli::parse();
    match edgediff::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
