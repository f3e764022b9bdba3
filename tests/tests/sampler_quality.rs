//! Sample quality of every sampler with the exact denoiser of a 2-D Gaussian mixture: all
//! error here comes from the sampler, so these bounds catch wrong coefficients that the
//! golden values (which use a dummy model) cannot see.
//!
//! Measured over 5 seeds x 4000 samples (sliced W1 / noise floor 0.035): DDPM 1000 1.13,
//! DDIM 50/20/10 1.22/1.46/1.74, DPM-Solver++ 20/10 1.66/1.60, Euler 20 1.46, Euler-a 50 1.07,
//! DDIM 20 + corrector 1.41, annealed Langevin 1.76, DPM-Solver++ 3M 10 1.61, UniPC 2 / 3 at 10
//! 1.61 / 1.61, SDE-DPM-Solver++ 20 1.50, Heun 10 (19 evaluations) 1.82; run-to-run sd 0.4 x
//! floor per seed, so 0.18 x floor for a 5-seed mean. The bound 2.3 x floor is three of those
//! above the worst. Every solver with 5 steps (2M 4.97, 3M 4.90, UniPC 2 / 3 4.79 / 4.76) is too
//! coarse for clusters of width 0.1 and is not bounded.
//!
//! The distance to a 1000-step DDIM solve from the same noise (the ODE error) separates the
//! deterministic solvers more finely: 5 steps 2M 0.2188, 3M 0.2165, UniPC 2 0.2128, UniPC 3
//! 0.2118; 10 steps 0.06475, 0.06457, 0.06458, 0.06452.

use edgediff::cli::demo::lineup;
use edgediff::data::GaussianMixture;
use edgediff::eval::swd::sliced_w1;
use edgediff::sampling::Job;
use edgediff_runtime::prediction::PredictionType;
use edgediff_runtime::sampler::plan::{self, Plan};
use edgediff_runtime::schedule::betas::{BetaSchedule, NoiseSchedule};

const N: usize = 4000;
const SEEDS: u64 = 5;
const BOUND: f64 = 2.3;

struct Bench {
    schedule: NoiseSchedule,
    mixture: GaussianMixture,
    data: Vec<Vec<f32>>,
    floor: f64,
}

impl Bench {
    fn new() -> Self {
        let schedule = NoiseSchedule::new(&BetaSchedule::DDPM_LINEAR, 1000).unwrap();
        let mixture = GaussianMixture::eight_gaussians();
        let data: Vec<Vec<f32>> = (0..SEEDS).map(|s| mixture.sample(N, 1000 + s)).collect();
        let floor = (0..SEEDS)
            .map(|s| sliced_w1(&data[s as usize], &mixture.sample(N, 2000 + s), 2, 64, s).unwrap())
            .sum::<f64>()
            / SEEDS as f64;
        Self {
            schedule,
            mixture,
            data,
            floor,
        }
    }

    /// `N` samples of `plan` with the exact denoiser, noise from `seed`.
    fn samples(&self, plan: &Plan, seed: u64) -> Vec<f32> {
        let job = Job {
            plan,
            prediction: PredictionType::Epsilon,
            clip_sample: None,
            dim: 2,
            n: N,
            labels: &[],
            seed,
        };
        job.run(&mut self.mixture.denoiser(&self.schedule)).unwrap()
    }

    /// Mean sliced W1 over the seeds divided by the noise floor, and the mean width ratio.
    fn score(&self, plan: &Plan) -> (f64, f64) {
        let (mut w1, mut width) = (0.0, 0.0);
        for s in 0..SEEDS {
            let x = self.samples(plan, s);
            w1 += sliced_w1(&x, &self.data[s as usize], 2, 64, s).unwrap();
            width += self.mixture.width_ratio(&x);
        }
        (w1 / SEEDS as f64 / self.floor, width / SEEDS as f64)
    }
}

#[test]
fn every_sampler_reaches_the_data_distribution() {
    let bench = Bench::new();
    println!(
        "noise floor (two data draws), mean over {SEEDS} seeds: {:.4}",
        bench.floor
    );
    for (name, cfg) in lineup() {
        let plan = plan::build(&bench.schedule, &cfg).unwrap();
        let (ratio, width) = bench.score(&plan);
        println!(
            "{name:<28} {:>5} steps: sliced W1 {ratio:.2} x floor, width ratio {width:.3}",
            cfg.steps
        );
        if cfg.steps >= 10 {
            assert!(
                ratio < BOUND,
                "{name} {} steps: {ratio:.2} x floor",
                cfg.steps
            );
        }
        if cfg.steps == 1000 {
            // Ancestral sampling with every training step is the reference discretisation.
            assert!((width - 1.0).abs() < 0.1, "{name}: width ratio {width}");
        }
    }
}

#[test]
fn the_bound_catches_a_ten_percent_coefficient_error() {
    let bench = Bench::new();
    let (_, cfg) = lineup()
        .into_iter()
        .find(|(n, c)| *n == "DDIM" && c.steps == 20)
        .unwrap();
    let mut plan = plan::build(&bench.schedule, &cfg).unwrap();
    for row in &mut plan.rows {
        row.c_eps *= 1.1;
    }
    let (ratio, width) = bench.score(&plan);
    println!("DDIM 20 with c_eps 10% too large: {ratio:.2} x floor, width ratio {width:.3}");
    assert!(ratio > BOUND, "{ratio}");
}

/// Mean distance to a 1000-step DDIM solve of the same probability-flow ODE from the same
/// noise: the discretisation error of a deterministic sampler, without the sampling noise
/// of a distance between distributions.
fn ode_error(bench: &Bench, plan: &Plan, reference: &[f32]) -> f64 {
    let job = Job {
        plan,
        prediction: PredictionType::Epsilon,
        clip_sample: None,
        dim: 2,
        n: N,
        labels: &[],
        seed: 0,
    };
    let x = job
        .run(&mut bench.mixture.denoiser(&bench.schedule))
        .unwrap();
    x.iter()
        .zip(reference)
        .map(|(a, b)| f64::from((a - b).abs()))
        .sum::<f64>()
        / x.len() as f64
}

#[test]
fn higher_order_solvers_beat_2m_at_the_same_evaluations() {
    let bench = Bench::new();
    let fine = plan::PlanConfig::new(
        plan::SamplerKind::Ddim { eta: 0.0 },
        1000,
        edgediff_runtime::schedule::spacing::Spacing::Leading,
    );
    let fine = plan::build(&bench.schedule, &fine).unwrap();
    let reference = bench.samples(&fine, 0);
    for steps in [5, 10] {
        let error_of = |name: &str| {
            let (_, cfg) = lineup()
                .into_iter()
                .find(|(n, c)| *n == name && c.steps == steps)
                .unwrap();
            ode_error(
                &bench,
                &plan::build(&bench.schedule, &cfg).unwrap(),
                &reference,
            )
        };
        let base = error_of("DPM-Solver++ 2M");
        println!("{steps} steps: DPM-Solver++ 2M ODE error {base:.5}");
        for name in ["DPM-Solver++ 3M", "UniPC 2", "UniPC 3"] {
            let e = error_of(name);
            println!(
                "{steps} steps: {name} ODE error {e:.5} ({:.2} x 2M)",
                e / base
            );
            assert!(e < base, "{name} {steps} steps: {e} vs 2M {base}");
        }
    }
}
