//! Sampler configurations: schedule parameters, steps, spacing, eta, corrector, prediction
//! and clipping, including 0, 1, huge, NaN and inf. Every configuration the host accepts
//! must give finite coefficients and finite samples (with a bounded network).

use crate::bytes::Bytes;
use edgediff_runtime::Denoiser;
use edgediff_runtime::noise::GaussianNoise;
use edgediff_runtime::prediction::PredictionType;
use edgediff_runtime::sampler::plan::{
    self, Corrector, DdpmVariance, FinalSigmas, PlanConfig, SamplerKind,
};
use edgediff_runtime::sampler::{DynamicThreshold, Sampler, SamplerConfig};
use edgediff_runtime::schedule::betas::{BetaSchedule, NoiseSchedule};
use edgediff_runtime::schedule::spacing::Spacing;

/// A network whose output is bounded (|out| <= 3) whatever its input.
struct Bounded;

impl Denoiser for Bounded {
    fn eval(
        &mut self,
        x: &[f32],
        t: u32,
        _: usize,
        _: &[u16],
        out: &mut [f32],
    ) -> edgediff_runtime::Result<()> {
        for (o, v) in out.iter_mut().zip(x) {
            let s = if v.is_finite() { *v } else { 0.0 };
            *o = (0.5 * s + (t % 7) as f32 * 0.1).clamp(-3.0, 3.0);
        }
        Ok(())
    }
}

/// Builds a configuration from `data`; if the host accepts it, checks the table and a run.
pub fn run(data: &[u8]) {
    let mut b = Bytes(data);
    let train_steps = b.upto(1200);
    let kind = match b.u8() % 5 {
        0 => BetaSchedule::Linear {
            start: b.f64(),
            end: b.f64(),
        },
        1 => BetaSchedule::ScaledLinear {
            start: b.f64(),
            end: b.f64(),
        },
        2 => BetaSchedule::SquaredCosCapV2,
        3 => BetaSchedule::Sigmoid {
            start: b.f64(),
            end: b.f64(),
        },
        _ => BetaSchedule::Custom((0..b.upto(40)).map(|_| b.f64()).collect()),
    };
    let Ok(mut schedule) = NoiseSchedule::new(&kind, train_steps) else {
        return;
    };
    if b.bool() {
        match schedule.rescale_zero_terminal_snr() {
            Ok(s) => schedule = s,
            Err(_) => return,
        }
    }
    let sampler = match b.u8() % 9 {
        0 => SamplerKind::Ddpm {
            variance: if b.bool() {
                DdpmVariance::FixedLarge
            } else {
                DdpmVariance::FixedSmall
            },
        },
        1 => SamplerKind::Ddim { eta: b.f64() },
        2 => SamplerKind::DpmSolverPp {
            order: b.u8() % 4,
            lower_order_final: b.bool(),
        },
        3 => SamplerKind::Euler,
        4 => SamplerKind::EulerAncestral,
        5 => SamplerKind::SdeDpmSolverPp {
            order: b.u8() % 4,
            lower_order_final: b.bool(),
        },
        6 => SamplerKind::UniPc {
            order: b.u8() % 5,
            lower_order_final: b.bool(),
        },
        7 => SamplerKind::Heun,
        _ => SamplerKind::Langevin,
    };
    let steps = b.upto(schedule.train_steps() + 2);
    let spacing = match b.u8() % 3 {
        0 => Spacing::Linspace,
        1 => Spacing::Leading,
        _ => Spacing::Trailing,
    };
    let steps_offset = b.upto(3) as u32;
    let corrector = b.bool().then(|| Corrector {
        snr: b.f64(),
        steps: b.u8() % 3,
    });
    let final_sigmas = if b.bool() {
        FinalSigmas::SigmaMin
    } else {
        FinalSigmas::Zero
    };
    let cfg = PlanConfig {
        sampler,
        steps,
        spacing,
        steps_offset,
        final_sigmas,
        karras: b.bool(),
        corrector,
        thresholding: b.bool().then(|| DynamicThreshold {
            ratio: b.f64() as f32,
            max_value: b.f64() as f32,
        }),
    };
    let Ok(plan) = plan::build(&schedule, &cfg) else {
        return;
    };
    for (i, r) in plan.rows.iter().enumerate() {
        assert!(
            r.coeffs().iter().all(|c| c.is_finite()),
            "step {i}: non-finite coefficient in {r:?} for {cfg:?} on {kind:?}"
        );
    }
    let prediction = match b.u8() % 3 {
        0 => PredictionType::Epsilon,
        1 => PredictionType::Sample,
        _ => PredictionType::VPrediction,
    };
    let clip_sample = b.bool().then(|| b.f64() as f32);
    let sampler_cfg = SamplerConfig {
        prediction,
        clip_sample,
        corrector_steps: plan.corrector_steps,
        thresholding: plan.thresholding.map(|t| t.for_samples_of(2)),
    };
    let Ok(s) = Sampler::new(plan.rows.as_slice(), sampler_cfg, 4) else {
        return;
    };
    let sizes = s.state_sizes();
    let (mut x, mut out, mut hist) = (
        vec![0f32; sizes.sample],
        vec![0f32; sizes.model_output],
        vec![0f32; sizes.history],
    );
    let Ok(mut state) = s.state(&mut x, &mut out, &mut hist) else {
        return;
    };
    let mut noise = GaussianNoise::new(u64::from(b.u8()));
    if s.init_noise(&mut state, &mut noise).is_err()
        || s.run(0, &mut state, &mut Bounded, &[], &mut noise).is_err()
    {
        return;
    }
    assert!(
        x.iter().all(|v| v.is_finite()),
        "non-finite sample {x:?} for {cfg:?} on {kind:?}, {sampler_cfg:?}"
    );
}
