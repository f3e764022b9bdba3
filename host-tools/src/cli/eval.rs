//! `edgediff eval`: sample quality of a model with a chosen engine against fresh data.

use super::Error;
use super::sample::{Dyn, EngineName, load};
use super::sampler_args::SamplerArgs;
use crate::data::Toy2d;
use crate::eval::mmd::mmd2_rbf;
use crate::eval::swd::sliced_w1;
use crate::sampling::Job;
use std::path::PathBuf;

/// Options of `edgediff eval`.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The model (pack, int8 ONNX or float ONNX, matching the engine).
    #[arg(long)]
    pub model: PathBuf,
    /// The engine.
    #[arg(long, value_enum, default_value = "runtime")]
    pub engine: EngineName,
    /// Sampler options (the runtime engine takes them from the pack).
    #[command(flatten)]
    pub sampler: SamplerArgs,
    /// The 2-D data set the model was trained on.
    #[arg(long, value_enum)]
    pub data: Toy2d,
    /// Samples (and fresh data points).
    #[arg(long, short = 'n', default_value_t = 10_000)]
    pub samples: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Sliced W1, MMD and their noise floors.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quality2d {
    /// Sliced Wasserstein-1 between samples and fresh data.
    pub sw1: f64,
    /// The same between two independent data draws.
    pub sw1_floor: f64,
    /// RBF MMD^2 (bandwidth 0.2, 2000 points).
    pub mmd2: f64,
    /// The same between two independent data draws.
    pub mmd2_floor: f64,
}

/// Measures 2-D samples against `data`.
pub fn quality_2d(samples: &[f32], data: Toy2d, seed: u64) -> Quality2d {
    let n = samples.len() / 2;
    let fresh = data.sample(n, seed ^ 0xda7a);
    let other = data.sample(n, seed ^ 0xf100);
    let sw = |a: &[f32], b: &[f32]| sliced_w1(a, b, 2, 64, 7).unwrap_or(f64::NAN);
    Quality2d {
        sw1: sw(samples, &fresh),
        sw1_floor: sw(&other, &fresh),
        mmd2: mmd2_rbf(samples, &fresh, 2, 0.2, 2000),
        mmd2_floor: mmd2_rbf(&other, &fresh, 2, 0.2, 2000),
    }
}

/// Runs the command.
pub fn run(args: &Args) -> Result<(), Error> {
    let mut m = load(&args.model, args.engine, &args.sampler, 1.0)?;
    if m.dim != 2 {
        return Err(Error::Input(format!(
            "{}: eval of 2-D models only ({}-D model)",
            args.model.display(),
            m.dim
        )));
    }
    let job = Job {
        plan: &m.plan,
        prediction: m.prediction,
        clip_sample: m.clip,
        dim: 2,
        n: args.samples,
        labels: &[],
        seed: args.seed,
    };
    let x = job.run(&mut Dyn(m.denoiser.as_mut()))?;
    let q = quality_2d(&x, args.data, args.seed);
    println!(
        "{:?} {} steps: sliced W1 {:.4} (floor {:.4}), MMD^2 {:.5} (floor {:.5})",
        args.engine,
        m.plan.rows.len(),
        q.sw1,
        q.sw1_floor,
        q.mmd2,
        q.mmd2_floor
    );
    Ok(())
}
