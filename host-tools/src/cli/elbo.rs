//! `edgediff elbo`: the variational bound (nats per dimension) of a float 2-D model and of its
//! int8 version, on held-out data.
//!
//! The int8 model is quantized here for a plan that visits every training step (DDPM with
//! `T` steps), because the bound needs the network at every timestep and a pack's time tables
//! only cover the steps it was compiled for.

use super::Error;
use super::sampler_args::{ScheduleArgs, prediction_arg};
use crate::data::Toy2d;
use crate::engines::{TractDenoiser, TractInput};
use crate::eval::elbo::{Elbo, ElboConfig, elbo};
use crate::onnx::read_model;
use crate::pipeline::pack_for_plan;
use crate::quantize::calibrate::CalibConfig;
use edgediff_runtime::engine::Engine;
use edgediff_runtime::pack::Pack;
use edgediff_runtime::prediction::PredictionType;
use edgediff_runtime::sampler::plan::{self, DdpmVariance, PlanConfig, SamplerKind};
use edgediff_runtime::schedule::spacing::Spacing;
use std::path::PathBuf;

/// Options of `edgediff elbo`.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The float ONNX network (noise, x0 or v prediction).
    #[arg(long)]
    pub model: PathBuf,
    /// The 2-D data set it was trained on.
    #[arg(long, value_enum)]
    pub data: Toy2d,
    /// Held-out points.
    #[arg(long, short = 'n', default_value_t = 1000)]
    pub samples: usize,
    /// Timesteps drawn per point.
    #[arg(long, default_value_t = 20)]
    pub draws: usize,
    /// The noise schedule the model was trained with.
    #[command(flatten)]
    pub schedule: ScheduleArgs,
    /// What the network predicts (epsilon, v, sample), when the file does not record it.
    #[arg(long, value_parser = prediction_arg)]
    pub prediction: Option<PredictionType>,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// The float and int8 bounds.
pub fn float_and_int8(args: &Args) -> Result<(Elbo, Elbo), Error> {
    let schedule = args.schedule.build()?;
    let t_max = schedule.train_steps();
    let file = args.model.display().to_string();
    let proto = read_model(&args.model)?;
    // Held-out points: a seed the trainer never uses for batches.
    let data = args.data.sample(args.samples, args.seed ^ 0x0e1b_0e1b);
    let every = PlanConfig::new(
        SamplerKind::Ddpm {
            variance: DdpmVariance::FixedSmall,
        },
        t_max,
        Spacing::Leading,
    );
    let plan = plan::build(&schedule, &every)?;
    let calib = CalibConfig {
        seed: args.seed,
        ..CalibConfig::new(64)
    };
    let bytes = pack_for_plan(&proto, &file, &plan, &calib, args.prediction)?;
    let pack = Pack::parse(&bytes)?;
    let prediction = pack.meta().prediction;
    if prediction.is_flow() {
        return Err(Error::Input(format!(
            "{}: a flow-matching model has no variational bound over this noise schedule; \
             `edgediff eval` or `compare` measure its samples",
            args.model.display()
        )));
    }
    let cfg = ElboConfig {
        schedule: &schedule,
        draws: args.draws,
        seed: args.seed,
    };
    let mut float = TractDenoiser::new(&proto, &file, TractInput::Timestep, 0, 1.0)?;
    let identity = |t: usize| t;
    let f = super::in_model(
        &file,
        elbo(&mut float, prediction, &identity, &data, 2, &cfg),
    )?;
    let mut arena = vec![0i8; pack.arena_bytes()];
    let mut engine = Engine::new(pack, &mut arena)?;
    // Leading spacing over every step visits t = T-1, ..., 0: row i holds t = T-1-i.
    let row_of = |t: usize| t_max - 1 - t;
    let q = elbo(&mut engine, prediction, &row_of, &data, 2, &cfg)?;
    Ok((f, q))
}

/// Runs the command.
pub fn run(args: &Args) -> Result<(), Error> {
    let (f, q) = float_and_int8(args)?;
    println!(
        "variational bound on {} held-out {:?} points (nats per dimension; lower is better):",
        args.samples, args.data
    );
    for (name, e) in [("float", f), ("int8", q)] {
        println!(
            "  {name:<6} {:.4} = prior {:.4} + denoising {:.4} + reconstruction {:.4}",
            e.total, e.prior, e.diffusion, e.reconstruction
        );
    }
    Ok(())
}
