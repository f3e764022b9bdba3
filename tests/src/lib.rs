//! Shared helpers of the cross-crate tests.

pub mod firmware;
pub mod graphs;
pub mod layers;
pub mod simulate;

use edgediff_runtime::noise::GaussianNoise;
use edgediff_runtime::prediction::PredictionType;
use edgediff_runtime::sampler::plan::Plan;
use edgediff_runtime::sampler::{Sampler, SamplerConfig};
use edgediff_runtime::{Denoiser, Result};

pub use edgediff::diffusers::conformance::{DummyModel, dummy_sample};

/// Runs `plan` from `x` (not from noise) with `denoiser`, noise from `seed`.
pub fn run_from(
    plan: &Plan,
    cfg: SamplerConfig,
    mut x: Vec<f32>,
    denoiser: &mut impl Denoiser,
    seed: u64,
) -> Result<Vec<f32>> {
    let cfg = SamplerConfig {
        corrector_steps: plan.corrector_steps,
        ..cfg
    };
    let sampler = Sampler::new(plan.rows.as_slice(), cfg, x.len())?;
    let sizes = sampler.state_sizes();
    let mut out = vec![0.0; sizes.model_output];
    let mut hist = vec![0.0; sizes.history];
    let mut noise = GaussianNoise::new(seed);
    let mut state = sampler.state(&mut x, &mut out, &mut hist)?;
    sampler.run(0, &mut state, denoiser, &[], &mut noise)?;
    Ok(x)
}

/// The epsilon-prediction default configuration.
pub fn eps_config() -> SamplerConfig {
    SamplerConfig {
        prediction: PredictionType::Epsilon,
        ..SamplerConfig::default()
    }
}

/// Mean absolute value.
pub fn mean_abs(x: &[f32]) -> f64 {
    x.iter().map(|v| v.abs() as f64).sum::<f64>() / x.len() as f64
}
