//! `edgediff compare`: a float 2-D model against its int8 version under several samplers and
//! step counts (DDPM 1000, DDIM 50/20/10, DPM-Solver++ 20/10/5). Each int8 column is a pack
//! quantized for that sampler, since a pack's time tables cover only its own steps.

use super::Error;
use super::eval::quality_2d;
use super::quantize::pack_for_plan;
use super::sample::Dyn;
use super::sampler_args::ScheduleArgs;
use crate::data::Toy2d;
use crate::engines::{TractDenoiser, TractInput};
use crate::onnx::read_model;
use crate::sampling::Job;
use edgediff_runtime::engine::Engine;
use edgediff_runtime::pack::Pack;
use edgediff_runtime::prediction::PredictionType;
use edgediff_runtime::sampler::plan::{self, DdpmVariance, FinalSigmas, PlanConfig, SamplerKind};
use edgediff_runtime::schedule::spacing::Spacing;
use std::path::PathBuf;

/// Options of `edgediff compare`.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The float ONNX epsilon-network.
    #[arg(long)]
    pub model: PathBuf,
    /// The 2-D data set it was trained on.
    #[arg(long, value_enum)]
    pub data: Toy2d,
    /// Samples per cell.
    #[arg(long, short = 'n', default_value_t = 2000)]
    pub samples: usize,
    /// The noise schedule the model was trained with.
    #[command(flatten)]
    pub schedule: ScheduleArgs,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// The samplers compared.
pub fn samplers(train_steps: usize) -> Vec<(String, PlanConfig)> {
    let dpm = SamplerKind::DpmSolverPp {
        lower_order_final: true,
        final_sigmas: FinalSigmas::Zero,
    };
    let mut v = vec![(
        format!("DDPM {train_steps}"),
        PlanConfig::new(
            SamplerKind::Ddpm {
                variance: DdpmVariance::FixedSmall,
            },
            train_steps,
            Spacing::Leading,
        ),
    )];
    for n in [50, 20, 10] {
        v.push((
            format!("DDIM {n}"),
            PlanConfig::new(SamplerKind::Ddim { eta: 0.0 }, n, Spacing::Trailing),
        ));
    }
    for n in [20, 10, 5] {
        v.push((
            format!("DPM-Solver++ {n}"),
            PlanConfig::new(dpm, n, Spacing::Linspace),
        ));
    }
    v
}

/// Runs the command.
pub fn run(args: &Args) -> Result<(), Error> {
    let schedule = args.schedule.build()?;
    let file = args.model.display().to_string();
    let proto = read_model(&args.model)?;
    println!(
        "{} samples per cell; sliced W1 to fresh {:?} data (and RBF MMD^2)",
        args.samples, args.data
    );
    println!(
        "| sampler | float sliced W1 | int8 sliced W1 | int8 / float | float MMD^2 | int8 MMD^2 |"
    );
    println!("|---|---|---|---|---|---|");
    let mut floor = 0.0;
    for (name, cfg) in samplers(schedule.train_steps()) {
        let plan = plan::build(&schedule, &cfg)?;
        let job = Job {
            plan: &plan,
            prediction: PredictionType::Epsilon,
            clip_sample: None,
            dim: 2,
            n: args.samples,
            labels: &[],
            seed: args.seed,
        };
        let mut float = TractDenoiser::new(&proto, &file, TractInput::Timestep, 0, 1.0)?;
        let xf = super::in_model(&file, job.run(&mut Dyn(&mut float)))?;
        let bytes = pack_for_plan(&proto, &file, &plan, 256, args.seed)?;
        let pack = Pack::parse(&bytes)?;
        let mut arena = vec![0i8; pack.arena_bytes()];
        let mut engine = Engine::new(pack, &mut arena)?;
        let xq = job.run(&mut engine)?;
        let (qf, qq) = (
            quality_2d(&xf, args.data, args.seed),
            quality_2d(&xq, args.data, args.seed),
        );
        floor = qf.sw1_floor;
        println!(
            "| {name} | {:.4} | {:.4} | {:.2} | {:.5} | {:.5} |",
            qf.sw1,
            qq.sw1,
            qq.sw1 / qf.sw1,
            qf.mmd2,
            qq.mmd2
        );
    }
    println!("noise floor (two data draws): sliced W1 {floor:.4}");
    Ok(())
}
