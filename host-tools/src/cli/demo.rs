//! `edgediff demo`: the main job.
//!
//! Samples the eight-Gaussians mixture with its exact denoiser through every sampler of the
//! runtime and prints the sliced Wasserstein-1 distance to fresh data, next to the distance
//! between two independent data draws (the noise floor). With an exact denoiser all error
//! comes from the sampler and its step count.

use super::Error;
use crate::data::GaussianMixture;
use crate::eval::swd::sliced_w1;
use crate::sampling::Job;
use edgediff_runtime::prediction::PredictionType;
use edgediff_runtime::sampler::plan::{
    self, Corrector, DdpmVariance, FinalSigmas, PlanConfig, SamplerKind,
};
use edgediff_runtime::schedule::betas::{BetaSchedule, NoiseSchedule};
use edgediff_runtime::schedule::spacing::Spacing;
use std::time::Instant;

/// Options of `edgediff demo`.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Samples per sampler (and data points per reference draw).
    #[arg(long, default_value_t = 10_000)]
    pub samples: usize,
    /// Noise seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Projections used for the sliced Wasserstein distance.
const DIRECTIONS: usize = 64;

/// The sampler line-up of the demo: a name and its plan.
pub fn lineup() -> Vec<(&'static str, PlanConfig)> {
    let dpm = SamplerKind::DpmSolverPp {
        lower_order_final: true,
        final_sigmas: FinalSigmas::Zero,
    };
    let ddim = SamplerKind::Ddim { eta: 0.0 };
    let pc = |sampler, steps, corrector_steps| PlanConfig {
        corrector: Some(Corrector {
            snr: 0.16,
            steps: corrector_steps,
        }),
        ..PlanConfig::new(sampler, steps, Spacing::Trailing)
    };
    vec![
        (
            "DDPM",
            PlanConfig::new(
                SamplerKind::Ddpm {
                    variance: DdpmVariance::FixedSmall,
                },
                1000,
                Spacing::Leading,
            ),
        ),
        ("DDIM", PlanConfig::new(ddim, 50, Spacing::Trailing)),
        ("DDIM", PlanConfig::new(ddim, 20, Spacing::Trailing)),
        ("DDIM", PlanConfig::new(ddim, 10, Spacing::Trailing)),
        (
            "DPM-Solver++ 2M",
            PlanConfig::new(dpm, 20, Spacing::Linspace),
        ),
        (
            "DPM-Solver++ 2M",
            PlanConfig::new(dpm, 10, Spacing::Linspace),
        ),
        (
            "DPM-Solver++ 2M",
            PlanConfig::new(dpm, 5, Spacing::Linspace),
        ),
        (
            "Euler",
            PlanConfig::new(SamplerKind::Euler, 20, Spacing::Trailing),
        ),
        (
            "Euler ancestral",
            PlanConfig::new(SamplerKind::EulerAncestral, 50, Spacing::Trailing),
        ),
        ("DDIM + Langevin corrector", pc(ddim, 20, 1)),
        ("annealed Langevin", pc(SamplerKind::Langevin, 100, 5)),
    ]
}

/// Runs the demo.
pub fn run(args: &Args) -> Result<(), Error> {
    let schedule = NoiseSchedule::new(&BetaSchedule::DDPM_LINEAR, 1000)?;
    let mixture = GaussianMixture::eight_gaussians();
    let n = args.samples;
    let data = mixture.sample(n, args.seed.wrapping_add(1));
    let floor_draw = mixture.sample(n, args.seed.wrapping_add(2));
    let floor = sliced_w1(&data, &floor_draw, 2, DIRECTIONS, 7).unwrap_or(f64::NAN);

    println!("edgediff demo: {n} samples of the eight-Gaussians mixture, exact denoiser,");
    println!(
        "linear betas 1e-4..0.02 over 1000 steps, seed {}.",
        args.seed
    );
    println!("Sliced W1 to fresh data ({DIRECTIONS} projections); noise floor = two data draws.\n");
    println!(
        "{:<28} {:>6} {:>6} {:>10} {:>8} {:>9}",
        "sampler", "steps", "evals", "sliced W1", "x floor", "time ms"
    );
    println!(
        "{:<28} {:>6} {:>6} {:>10.4} {:>8.2} {:>9}",
        "(noise floor)", "-", "-", floor, 1.0, "-"
    );
    for (name, cfg) in lineup() {
        let plan = plan::build(&schedule, &cfg)?;
        let job = Job {
            plan: &plan,
            prediction: PredictionType::Epsilon,
            clip_sample: None,
            dim: 2,
            n,
            labels: &[],
            seed: args.seed,
        };
        let mut denoiser = mixture.denoiser(&schedule);
        let start = Instant::now();
        let samples = job.run(&mut denoiser)?;
        let ms = start.elapsed().as_secs_f64() * 1e3;
        let d = sliced_w1(&samples, &data, 2, DIRECTIONS, 7).unwrap_or(f64::NAN);
        println!(
            "{name:<28} {:>6} {:>6} {d:>10.4} {:>8.2} {ms:>9.1}",
            cfg.steps,
            plan.evaluations(),
            d / floor
        );
    }
    println!("\nTrained models, int8 engines and firmware arrive with the next issues.");
    Ok(())
}
