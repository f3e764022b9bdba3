//! `edgediff train-classifier`: the small digits classifier used by the digits metrics.

use super::Error;
use crate::data::digits::{self, Digits};
use crate::eval::classifier::Classifier;
use crate::files::write_atomic;
use std::path::PathBuf;

/// The shipped classifier, relative to the repository root.
pub const DEFAULT_CLASSIFIER: &str = "models/digits-classifier/classifier.bin";

/// Options of `edgediff train-classifier`.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The digits file.
    #[arg(long, default_value = digits::DEFAULT_PATH)]
    pub digits: PathBuf,
    /// Optimiser steps.
    #[arg(long, default_value_t = 3000)]
    pub steps: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output file.
    #[arg(long, default_value = DEFAULT_CLASSIFIER)]
    pub out: PathBuf,
    /// Overwrite an existing output.
    #[arg(long)]
    pub force: bool,
}

/// Runs the command.
pub fn run(args: &Args) -> Result<(), Error> {
    let d = Digits::load(&args.digits)?;
    let (c, acc) = Classifier::train(&d, args.steps, args.seed)?;
    write_atomic(&args.out, &c.to_bytes(), args.force)?;
    println!(
        "digits classifier: held-out accuracy {:.2}% on {} images -> {}",
        100.0 * acc,
        d.len() - crate::eval::classifier::TRAIN_ROWS,
        args.out.display()
    );
    Ok(())
}
