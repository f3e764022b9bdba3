//! Sampler options shared by every command that samples or builds a step table.
//!
//! Every option is optional: what a flag leaves unset comes from `--scheduler-config` (a
//! diffusers `scheduler_config.json`, read by [`crate::diffusers::config`]) and then from the
//! defaults below, so explicit flags override the file and the file overrides the defaults.

use crate::error::Error;
use clap::{Args, ValueEnum};
use edgediff_runtime::prediction::PredictionType;
use edgediff_runtime::sampler::DynamicThreshold;
use edgediff_runtime::sampler::plan::{
    self, Corrector, DdpmVariance, FinalSigmas, Plan, PlanConfig, SamplerKind,
};
use edgediff_runtime::schedule::betas::{BetaSchedule, NoiseSchedule};
use edgediff_runtime::schedule::spacing::Spacing;
use std::path::PathBuf;

/// Sampler names on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SamplerName {
    /// Ancestral DDPM (`--large-variance` for `beta_t`).
    Ddpm,
    /// DDIM (`--eta`).
    Ddim,
    /// DPM-Solver++ (`--solver-order` 1, 2 or 3).
    #[value(name = "dpmpp")]
    DpmSolverPp,
    /// SDE-DPM-Solver++ (`--solver-order` 1 or 2).
    #[value(name = "sde-dpmpp")]
    SdeDpmSolverPp,
    /// UniPC (bh2, with its corrector; `--solver-order` 1, 2 or 3).
    #[value(name = "unipc")]
    UniPc,
    /// Euler.
    Euler,
    /// Euler ancestral.
    #[value(name = "euler-a")]
    EulerAncestral,
    /// Heun (two network evaluations per step).
    Heun,
    /// Annealed Langevin dynamics (needs `--corrector-steps`).
    Langevin,
    /// Flow matching, Euler steps (flow-velocity models; `--shift`).
    #[value(name = "flow-euler")]
    FlowEuler,
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
#[derive(Clone, Debug, Default, PartialEq, Args)]
pub struct ScheduleArgs {
    /// Beta schedule [default: linear].
    #[arg(long, value_enum)]
    pub betas: Option<BetaName>,
    /// First beta [default: 0.0001].
    #[arg(long)]
    pub beta_start: Option<f64>,
    /// Last beta [default: 0.02].
    #[arg(long)]
    pub beta_end: Option<f64>,
    /// Training steps [default: 1000].
    #[arg(long)]
    pub train_steps: Option<usize>,
    /// Rescale the betas to zero terminal SNR (`--zero-snr false` turns a file's off).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub zero_snr: Option<bool>,
    /// Betas given one by one (diffusers' `trained_betas`; from a scheduler config only).
    #[arg(skip)]
    pub trained_betas: Option<Vec<f64>>,
}

/// Options that define the noise schedule and the sampler.
#[derive(Clone, Debug, Default, PartialEq, Args)]
pub struct SamplerArgs {
    /// A diffusers `scheduler_config.json`: its class and keys set every option below that
    /// is not given as a flag.
    #[arg(long)]
    pub scheduler_config: Option<PathBuf>,
    /// The noise schedule.
    #[command(flatten)]
    pub schedule: ScheduleArgs,
    /// Sampler [default: dpmpp].
    #[arg(long, value_enum)]
    pub sampler: Option<SamplerName>,
    /// Sampling steps [default: 10].
    #[arg(long)]
    pub steps: Option<usize>,
    /// Timestep spacing [default: linspace].
    #[arg(long, value_enum)]
    pub spacing: Option<SpacingName>,
    /// Offset added to `leading` timesteps [default: 0].
    #[arg(long)]
    pub steps_offset: Option<u32>,
    /// DDIM stochasticity [default: 0].
    #[arg(long)]
    pub eta: Option<f64>,
    /// DDPM variance: use `beta_t` instead of the posterior variance.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub large_variance: Option<bool>,
    /// DPM-Solver++ / UniPC order, 1 to 3 [default: 2].
    #[arg(long)]
    pub solver_order: Option<u8>,
    /// DPM-Solver++ / UniPC: keep the solver order at the last steps.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub no_lower_order_final: Option<bool>,
    /// DDIM, DPM-Solver++ and Euler: end at the smallest training noise level (`abar_0`)
    /// instead of the clean sample (diffusers' `final_sigmas_type = "sigma_min"`, DDIM's
    /// `set_alpha_to_one = false`).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub final_sigma_min: Option<bool>,
    /// Karras et al.'s noise levels (DPM-Solver++, UniPC, Euler, Heun; diffusers'
    /// `use_karras_sigmas`).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub karras: Option<bool>,
    /// Flow matching: time shift (diffusers' `shift`) [default: 1].
    #[arg(long)]
    pub shift: Option<f64>,
    /// Langevin corrector steps per level [default: 0, none].
    #[arg(long)]
    pub corrector_steps: Option<u8>,
    /// Langevin corrector signal-to-noise ratio [default: 0.16].
    #[arg(long)]
    pub snr: Option<f64>,
    /// Clip `x0_hat` to `[-r, r]` at every step (diffusers' `clip_sample_range`).
    #[arg(long)]
    pub clip_sample: Option<f32>,
    /// Dynamic thresholding of `x0_hat` at this quantile of `|x0_hat|` per sample (Imagen;
    /// diffusers' `dynamic_thresholding_ratio`, e.g. 0.995); replaces `--clip-sample`.
    #[arg(long)]
    pub thresholding: Option<f32>,
    /// Dynamic thresholding: the largest threshold (diffusers' `sample_max_value`)
    /// [default: 1].
    #[arg(long)]
    pub sample_max_value: Option<f32>,
    /// What the network predicts: epsilon, v (v_prediction), sample (x0) or flow (the
    /// flow-matching velocity). Overrides what a
    /// float ONNX records; for a pack or int8 ONNX it must match what was compiled in.
    #[arg(long, value_parser = prediction_arg)]
    pub prediction: Option<PredictionType>,
}

/// Parses `--prediction`.
pub fn prediction_arg(s: &str) -> Result<PredictionType, String> {
    crate::onnx::metadata::parse_prediction(s).ok_or_else(|| {
        format!(
            "`{s}`: expected epsilon, v (or v_prediction), sample (or x0) or flow (or \
                 flow_prediction)"
        )
    })
}

impl ScheduleArgs {
    /// These options, with the ones unset here taken from `other`.
    pub fn or(&self, other: &Self) -> Self {
        Self {
            betas: self.betas.or(other.betas),
            beta_start: self.beta_start.or(other.beta_start),
            beta_end: self.beta_end.or(other.beta_end),
            train_steps: self.train_steps.or(other.train_steps),
            zero_snr: self.zero_snr.or(other.zero_snr),
            trained_betas: self
                .trained_betas
                .clone()
                .or_else(|| other.trained_betas.clone()),
        }
    }

    /// The noise schedule these options describe (unset options take their defaults).
    pub fn build(&self) -> edgediff_runtime::Result<NoiseSchedule> {
        let start = self.beta_start.unwrap_or(1e-4);
        let end = self.beta_end.unwrap_or(0.02);
        let kind = match (&self.trained_betas, self.betas.unwrap_or(BetaName::Linear)) {
            (Some(b), _) => BetaSchedule::Custom(b.clone()),
            (None, BetaName::Linear) => BetaSchedule::Linear { start, end },
            (None, BetaName::ScaledLinear) => BetaSchedule::ScaledLinear { start, end },
            (None, BetaName::Cosine) => BetaSchedule::SquaredCosCapV2,
            (None, BetaName::Sigmoid) => BetaSchedule::Sigmoid { start, end },
        };
        let s = NoiseSchedule::new(&kind, self.train_steps.unwrap_or(1000))?;
        if self.zero_snr == Some(true) {
            s.rescale_zero_terminal_snr()
        } else {
            Ok(s)
        }
    }
}

/// A sampler fully resolved from flags, a scheduler config and defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplerSpec {
    /// The noise schedule.
    pub schedule: NoiseSchedule,
    /// The step-table configuration.
    pub config: PlanConfig,
    /// The prediction type, when a flag or the config names one.
    pub prediction: Option<PredictionType>,
    /// Clip range of `x0_hat`, if any.
    pub clip: Option<f32>,
}

impl SamplerSpec {
    /// Builds the step table.
    pub fn plan(&self) -> Result<Plan, Error> {
        Ok(plan::build(&self.schedule, &self.config)?)
    }
}

impl SamplerArgs {
    /// These options, with the ones unset here taken from `other`.
    pub fn or(&self, other: &Self) -> Self {
        Self {
            scheduler_config: self
                .scheduler_config
                .clone()
                .or_else(|| other.scheduler_config.clone()),
            schedule: self.schedule.or(&other.schedule),
            sampler: self.sampler.or(other.sampler),
            steps: self.steps.or(other.steps),
            spacing: self.spacing.or(other.spacing),
            steps_offset: self.steps_offset.or(other.steps_offset),
            eta: self.eta.or(other.eta),
            large_variance: self.large_variance.or(other.large_variance),
            solver_order: self.solver_order.or(other.solver_order),
            no_lower_order_final: self.no_lower_order_final.or(other.no_lower_order_final),
            final_sigma_min: self.final_sigma_min.or(other.final_sigma_min),
            karras: self.karras.or(other.karras),
            shift: self.shift.or(other.shift),
            corrector_steps: self.corrector_steps.or(other.corrector_steps),
            snr: self.snr.or(other.snr),
            clip_sample: self.clip_sample.or(other.clip_sample),
            thresholding: self.thresholding.or(other.thresholding),
            sample_max_value: self.sample_max_value.or(other.sample_max_value),
            prediction: self.prediction.or(other.prediction),
        }
    }

    /// The options given, as command-line flags (to quote in a suggested command).
    pub fn to_flags(&self) -> String {
        fn name<T: ValueEnum>(v: &T) -> String {
            v.to_possible_value()
                .map(|p| p.get_name().to_string())
                .unwrap_or_default()
        }
        let s = &self.schedule;
        let mut f: Vec<String> = Vec::new();
        let mut add = |flag: &str, v: Option<String>| {
            if let Some(v) = v {
                f.push(format!("--{flag} {v}"));
            }
        };
        add(
            "scheduler-config",
            self.scheduler_config
                .as_ref()
                .map(|p| p.display().to_string()),
        );
        add("betas", s.betas.as_ref().map(name));
        add("beta-start", s.beta_start.map(|v| v.to_string()));
        add("beta-end", s.beta_end.map(|v| v.to_string()));
        add("train-steps", s.train_steps.map(|v| v.to_string()));
        add("zero-snr", s.zero_snr.map(|v| v.to_string()));
        add("sampler", self.sampler.as_ref().map(name));
        add("steps", self.steps.map(|v| v.to_string()));
        add("spacing", self.spacing.as_ref().map(name));
        add("steps-offset", self.steps_offset.map(|v| v.to_string()));
        add("eta", self.eta.map(|v| v.to_string()));
        add("large-variance", self.large_variance.map(|v| v.to_string()));
        add("solver-order", self.solver_order.map(|v| v.to_string()));
        add(
            "no-lower-order-final",
            self.no_lower_order_final.map(|v| v.to_string()),
        );
        add(
            "final-sigma-min",
            self.final_sigma_min.map(|v| v.to_string()),
        );
        add(
            "corrector-steps",
            self.corrector_steps.map(|v| v.to_string()),
        );
        add("snr", self.snr.map(|v| v.to_string()));
        add("clip-sample", self.clip_sample.map(|v| v.to_string()));
        add("thresholding", self.thresholding.map(|v| v.to_string()));
        add(
            "sample-max-value",
            self.sample_max_value.map(|v| v.to_string()),
        );
        add(
            "prediction",
            self.prediction
                .map(|p| crate::onnx::metadata::prediction_name(p).to_string()),
        );
        f.join(" ")
    }

    /// Whether any option that shapes the step table (or its thresholding) was given (the
    /// prediction type and the clip range are checked on their own).
    pub fn shapes_the_table(&self) -> bool {
        let bare = Self {
            prediction: self.prediction,
            clip_sample: self.clip_sample,
            ..Self::default()
        };
        *self != bare
    }

    /// Reads `--scheduler-config` (if given) under these flags and fills in the defaults.
    pub fn resolve(&self) -> Result<SamplerSpec, Error> {
        let merged = match &self.scheduler_config {
            Some(path) => {
                let file = crate::diffusers::config::read(path)?;
                if !file.ignored.is_empty() {
                    eprintln!(
                        "{}: keys that do not change sampling here, ignored: {}",
                        path.display(),
                        file.ignored.join(", ")
                    );
                }
                self.or(&file.args)
            }
            None => self.clone(),
        };
        merged.spec()
    }

    /// The sampler these options describe, defaults filled in (no config file read).
    fn spec(&self) -> Result<SamplerSpec, Error> {
        let sampler = match self.sampler.unwrap_or(SamplerName::DpmSolverPp) {
            SamplerName::Ddpm => SamplerKind::Ddpm {
                variance: if self.large_variance == Some(true) {
                    DdpmVariance::FixedLarge
                } else {
                    DdpmVariance::FixedSmall
                },
            },
            SamplerName::Ddim => SamplerKind::Ddim {
                eta: self.eta.unwrap_or(0.0),
            },
            SamplerName::DpmSolverPp => SamplerKind::DpmSolverPp {
                order: self.solver_order.unwrap_or(2),
                lower_order_final: self.no_lower_order_final != Some(true),
            },
            SamplerName::SdeDpmSolverPp => SamplerKind::SdeDpmSolverPp {
                order: self.solver_order.unwrap_or(2),
                lower_order_final: self.no_lower_order_final != Some(true),
            },
            SamplerName::UniPc => SamplerKind::UniPc {
                order: self.solver_order.unwrap_or(2),
                lower_order_final: self.no_lower_order_final != Some(true),
            },
            SamplerName::Euler => SamplerKind::Euler,
            SamplerName::EulerAncestral => SamplerKind::EulerAncestral,
            SamplerName::Heun => SamplerKind::Heun,
            SamplerName::FlowEuler => SamplerKind::FlowMatchEuler {
                shift: self.shift.unwrap_or(1.0),
            },
            SamplerName::Langevin => SamplerKind::Langevin,
        };
        let spacing = match self.spacing.unwrap_or(SpacingName::Linspace) {
            SpacingName::Linspace => Spacing::Linspace,
            SpacingName::Leading => Spacing::Leading,
            SpacingName::Trailing => Spacing::Trailing,
        };
        let corrector_steps = self.corrector_steps.unwrap_or(0);
        Ok(SamplerSpec {
            schedule: self.schedule.build()?,
            config: PlanConfig {
                sampler,
                steps: self.steps.unwrap_or(10),
                spacing,
                steps_offset: self.steps_offset.unwrap_or(0),
                final_sigmas: if self.final_sigma_min == Some(true) {
                    FinalSigmas::SigmaMin
                } else {
                    FinalSigmas::Zero
                },
                karras: self.karras == Some(true),
                corrector: (corrector_steps > 0).then_some(Corrector {
                    snr: self.snr.unwrap_or(0.16),
                    steps: corrector_steps,
                }),
                thresholding: self.thresholding.map(|ratio| DynamicThreshold {
                    ratio,
                    max_value: self.sample_max_value.unwrap_or(1.0),
                }),
            },
            prediction: self.prediction,
            // Thresholding replaces clipping, as in diffusers.
            clip: self.clip_sample.filter(|_| self.thresholding.is_none()),
        })
    }
}
