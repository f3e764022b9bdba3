//! The `edgediff` command line: one module per command.

pub mod classifier;
pub mod compare;
pub mod compile;
pub mod conformance;
pub mod demo;
pub mod elbo;
pub mod eval;
pub mod inspect;
pub mod quantize;
pub mod sample;
pub mod sampler_args;
pub mod schedule;
pub mod train;

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
    /// Trains a small epsilon-network with candle and writes float ONNX + safetensors.
    Train(train::Args),
    /// Quantizes a float ONNX epsilon-network to int8 ONNX (timestep-aware calibration).
    Quantize(quantize::Args),
    /// Compiles an int8 ONNX model and a sampler into a flash-ready model pack.
    Compile(compile::Args),
    /// Prints the layers, quantization, schedule and memory of an ONNX model or a pack.
    Inspect(inspect::Args),
    /// Samples on the desktop with the runtime, tract (int8) or tract-float engine.
    Sample(sample::Args),
    /// Measures sample quality against fresh data (2-D models) or real digits.
    Eval(eval::Args),
    /// Trains the digits classifier used by the digits metrics.
    TrainClassifier(classifier::Args),
    /// The variational bound (nats per dimension) of a 2-D model, float and int8.
    Elbo(elbo::Args),
    /// Float vs int8 sample quality of a 2-D model across samplers and step counts.
    Compare(compare::Args),
    /// Replays diffusers' scheduler full loops (a cases JSON) on the runtime's sampler.
    Conformance(conformance::Args),
}

/// Names the model `file` in an error raised while running it (unless it already does).
pub fn in_model<T, E: Into<Error>>(file: &str, r: Result<T, E>) -> Result<T, Error> {
    r.map_err(|e| match e.into() {
        Error::Input(m) if m.starts_with(file) => Error::Input(m),
        e => Error::Input(format!("{file}: {e}")),
    })
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Demo(args) => demo::run(&args),
        Command::Schedule(args) => schedule::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Quantize(args) => quantize::run(&args),
        Command::Compile(args) => compile::run(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Sample(args) => sample::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::TrainClassifier(args) => classifier::run(&args),
        Command::Elbo(args) => elbo::run(&args),
        Command::Compare(args) => compare::run(&args),
        Command::Conformance(args) => conformance::run(&args),
    }
}
