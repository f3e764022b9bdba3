//! The `edgediff` command.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // A closed pipe (`edgediff inspect m.pack | head`) ends the program quietly. Other panics
    // print nothing here: tract's are caught and reported as errors naming the model
    // (`engines::tract::guarded`), and any other one becomes the one-line report below.
    std::panic::set_hook(Box::new(|info| {
        if info.to_string().contains("Broken pipe") {
            std::process::exit(0);
        }
    }));
    let cli = edgediff::cli::Cli::parse();
    match std::panic::catch_unwind(|| edgediff::cli::run(cli)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
        Err(payload) => {
            let msg = edgediff::engines::tract::panic_message(payload.as_ref());
            eprintln!("error: internal failure: {}", msg.replace('\n', " "));
            ExitCode::from(2)
        }
    }
}
