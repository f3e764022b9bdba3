//! The `edgediff` command line: one module per command.

pub mod demo;
pub mod sampler_args;
pub mod schedule;

pub use crate::error::Error;

use clap::{Parser, Subcommand};

/// edgediff: diffusion models on microcontrollers.
#[derive(Debug, Parser)]
#[command(name = "edgediff", version, about)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Samples a 2-D mixture with its exact denoiser through every sampler and prints quality
    /// and timing.
    Demo(demo::Args),
    /// Prints the step table of a sampler configuration, or emits it as a Rust `const`.
    Schedule(schedule::Args),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Demo(args) => demo::run(&args),
        Command::Schedule(args) => schedule::run(&args),
    }
}
