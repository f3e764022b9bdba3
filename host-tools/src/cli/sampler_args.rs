//! Sampler options shared by every command that samples or builds a step table.

use clap::{Args, ValueEnum};
use edgediff_runtime::prediction::PredictionType;
use edgediff_runtime::sampler::plan::{
    Corrector, DdpmVariance, FinalSigmas, PlanConfig, SamplerKind,
};
use edgediff_runtime::schedule::betas::{BetaSchedule, NoiseSchedule};
use edgediff_runtime::schedule::spacing::Spacing;

/// Sampler names on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SamplerName {
    /// Ancestral DDPM (`--variance` small or large).
    Ddpm,
    /// DDIM (`--eta`).
    Ddim,
    /// DPM-Solver++ 2M.
    #[value(name = "dpmpp")]
    DpmSolverPp,
    /// Euler.
    Euler,
    /// Euler ancestral.
    #[value(name = "euler-a")]
    EulerAncestral,
    /// Annealed Langevin dynamics (needs `--corrector-steps`).
    Langevin,
}

/// Timestep spacing names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SpacingName {
    /// `round(linspace(0, T - 1, N))`.
    Linspace,
    /// `arange(N) * (T // N) + steps_offset`.
    Leading,
    /// `round(arange(T, 0, -T / N)) - 1`.
    Trailing,
}

/// Beta schedule names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BetaName {
    /// `linspace(beta_start, beta_end, T)`.
    Linear,
    /// `linspace(sqrt(beta_start), sqrt(beta_end), T)^2`.
    ScaledLinear,
    /// `squaredcos_cap_v2`.
    Cosine,
    /// Sigmoid between `beta_start` and `beta_end`.
    Sigmoid,
}

/// Options that define the noise schedule (training and sampling must agree).
#[derive(Clone, Debug, Args)]
pub struct ScheduleArgs {
    /// Beta schedule.
    #[arg(long, value_enum, default_value = "linear")]
    pub betas: BetaName,
    /// First beta.
    #[arg(long, default_value_t = 1e-4)]
    pub beta_start: f64,
    /// Last beta.
    #[arg(long, default_value_t = 0.02)]
    pub beta_end: f64,
    /// Training steps.
    #[arg(long, default_value_t = 1000)]
    pub train_steps: usize,
    /// Rescale the betas to zero terminal SNR.
    #[arg(long)]
    pub zero_snr: bool,
}

/// Options that define the noise schedule and the sampler.
#[derive(Clone, Debug, Args)]
pub struct SamplerArgs {
    /// The noise schedule.
    #[command(flatten)]
    pub schedule: ScheduleArgs,
    /// Sampler.
    #[arg(long, value_enum, default_value = "dpmpp")]
    pub sampler: SamplerName,
    /// Sampling steps.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Timestep spacing.
    #[arg(long, value_enum, default_value = "linspace")]
    pub spacing: SpacingName,
    /// Offset added to `leading` timesteps.
    #[arg(long, default_value_t = 0)]
    pub steps_offset: u32,
    /// DDIM stochasticity.
    #[arg(long, default_value_t = 0.0)]
    pub eta: f64,
    /// DDPM variance: use `beta_t` instead of the posterior variance.
    #[arg(long)]
    pub large_variance: bool,
    /// DPM-Solver++: keep second order at the last step.
    #[arg(long)]
    pub no_lower_order_final: bool,
    /// DPM-Solver++: end at the smallest training noise level instead of zero.
    #[arg(long)]
    pub final_sigma_min: bool,
    /// Langevin corrector steps per level (0: none).
    #[arg(long, default_value_t = 0)]
    pub corrector_steps: u8,
    /// Langevin corrector signal-to-noise ratio.
    #[arg(long, default_value_t = 0.16)]
    pub snr: f64,
    /// What the network predicts: epsilon, v (v_prediction) or sample (x0). Overrides what a
    /// float ONNX records; for a pack or int8 ONNX it must match what was compiled in.
    #[arg(long, value_parser = prediction_arg)]
    pub prediction: Option<PredictionType>,
}

/// Parses `--prediction`.
pub fn prediction_arg(s: &str) -> Result<PredictionType, String> {
    crate::onnx::metadata::parse_prediction(s)
        .ok_or_else(|| format!("`{s}`: expected epsilon, v (or v_prediction) or sample (or x0)"))
}

impl ScheduleArgs {
    /// The noise schedule these options describe.
    pub fn build(&self) -> edgediff_runtime::Result<NoiseSchedule> {
        let (start, end) = (self.beta_start, self.beta_end);
        let kind = match self.betas {
            BetaName::Linear => BetaSchedule::Linear { start, end },
            BetaName::ScaledLinear => BetaSchedule::ScaledLinear { start, end },
            BetaName::Cosine => BetaSchedule::SquaredCosCapV2,
            BetaName::Sigmoid => BetaSchedule::Sigmoid { start, end },
        };
        let s = NoiseSchedule::new(&kind, self.train_steps)?;
        if self.zero_snr {
            s.rescale_zero_terminal_snr()
        } else {
            Ok(s)
        }
    }
}

impl SamplerArgs {
    /// The noise schedule.
    pub fn schedule(&self) -> edgediff_runtime::Result<NoiseSchedule> {
        self.schedule.build()
    }

    /// The plan configuration these options describe.
    pub fn plan_config(&self) -> PlanConfig {
        let sampler = match self.sampler {
            SamplerName::Ddpm => SamplerKind::Ddpm {
                variance: if self.large_variance {
                    DdpmVariance::FixedLarge
                } else {
                    DdpmVariance::FixedSmall
                },
            },
            SamplerName::Ddim => SamplerKind::Ddim { eta: self.eta },
            SamplerName::DpmSolverPp => SamplerKind::DpmSolverPp {
                lower_order_final: !self.no_lower_order_final,
                final_sigmas: if self.final_sigma_min {
                    FinalSigmas::SigmaMin
                } else {
                    FinalSigmas::Zero
                },
            },
            SamplerName::Euler => SamplerKind::Euler,
            SamplerName::EulerAncestral => SamplerKind::EulerAncestral,
            SamplerName::Langevin => SamplerKind::Langevin,
        };
        let spacing = match self.spacing {
            SpacingName::Linspace => Spacing::Linspace,
            SpacingName::Leading => Spacing::Leading,
            SpacingName::Trailing => Spacing::Trailing,
        };
        PlanConfig {
            sampler,
            steps: self.steps,
            spacing,
            steps_offset: self.steps_offset,
            corrector: (self.corrector_steps > 0).then_some(Corrector {
                snr: self.snr,
                steps: self.corrector_steps,
            }),
        }
    }
}
