//! Builds a step table from a noise schedule and a sampler configuration (host side, `f64`).

use super::{ddim, ddpm, dpm_solver, euler, langevin};
use crate::schedule::betas::{NoiseSchedule, linspace};
use crate::schedule::spacing::{Grid, Spacing, timesteps};
use crate::schedule::{StepRow, T_FINAL};
use crate::{Error, Result};
use std::vec::Vec;

/// What a zero `abar_t` becomes. A zero-terminal-SNR schedule has `abar_{T-1} = 0`, where
/// `x0 = (x - sigma eps) / alpha` is undefined; like diffusers, we use `2^-24` there.
pub const ABAR_MIN: f64 = 1.0 / 16_777_216.0;

/// `abar` as a step uses it: a zero (zero terminal SNR) becomes [`ABAR_MIN`], as diffusers'
/// `rescale_betas_zero_snr` sets it; any positive value is kept, however small (the cosine
/// schedule's `2.4e-9` at `t = 999` reaches the sampler unchanged, as in diffusers).
pub fn usable_abar(abar: f64) -> f64 {
    if abar > 0.0 { abar } else { ABAR_MIN }
}

/// `abar` at a fractional timestep `tf`: `sigma = sqrt((1 - abar) / abar)` interpolated
/// linearly between the neighbouring rows, as numpy's `interp` does in diffusers.
fn interpolated_abar(abar_at: &impl Fn(usize) -> f64, tf: f64) -> f64 {
    let sigma = |t: usize| {
        let a = abar_at(t);
        ((1.0 - a) / a).sqrt()
    };
    let lo = tf.floor();
    let w = tf - lo;
    let lo = lo as usize;
    let s = if w == 0.0 {
        sigma(lo)
    } else {
        sigma(lo) * (1.0 - w) + sigma(lo + 1) * w
    };
    1.0 / (1.0 + s * s)
}

/// DDPM's posterior variance choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DdpmVariance {
    /// `beta~_t = (1 - abar_prev) / (1 - abar_t) * beta_t` (diffusers' `fixed_small`).
    #[default]
    FixedSmall,
    /// `beta_t` (diffusers' `fixed_large`).
    FixedLarge,
}

/// Where the last step ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FinalSigmas {
    /// At the clean sample, `sigma = 0` (`abar = 1`).
    #[default]
    Zero,
    /// At the smallest training noise level, `abar_0` (leaves a little noise): diffusers'
    /// `final_sigmas_type = "sigma_min"` (DPM-Solver++, Euler) and DDIM's
    /// `set_alpha_to_one = false`.
    SigmaMin,
}

/// The sampler and its own parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SamplerKind {
    /// Ancestral DDPM.
    Ddpm {
        /// Posterior variance.
        variance: DdpmVariance,
    },
    /// DDIM; `eta = 0` is deterministic, `eta = 1` is DDPM-like.
    Ddim {
        /// Stochasticity, `>= 0`.
        eta: f64,
    },
    /// DPM-Solver++ (data prediction, midpoint solver type), multistep.
    DpmSolverPp {
        /// Solver order: 1 (DDIM-like) or 2 (2M).
        order: u8,
        /// First order at the last step when there are fewer than 15 steps.
        lower_order_final: bool,
    },
    /// Euler (deterministic), in the variance-exploding coordinates of Karras et al.
    Euler,
    /// Euler ancestral.
    EulerAncestral,
    /// Annealed Langevin dynamics alone: corrector steps at every level, then a final
    /// Tweedie denoising step. Needs a [`Corrector`].
    Langevin,
}

impl SamplerKind {
    /// DPM-Solver++ 2M with diffusers' defaults (`lower_order_final`).
    pub const DPM_SOLVER_PP_2M: Self = Self::DpmSolverPp {
        order: 2,
        lower_order_final: true,
    };
}

/// A Langevin corrector run at every level (predictor-corrector sampling, Song et al. 2021).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Corrector {
    /// Target signal-to-noise ratio `r` of the step; the step size is
    /// `2 alpha_t (r sigma_t)^2` (Song et al.'s rule with the expected norms
    /// `||z||^2 = d`, `||score||^2 = d / sigma_t^2`, so the device computes no norm).
    pub snr: f64,
    /// Corrector steps per level.
    pub steps: u8,
}

/// Everything that defines a step table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlanConfig {
    /// The sampler.
    pub sampler: SamplerKind,
    /// Number of sampling steps.
    pub steps: usize,
    /// Timestep spacing.
    pub spacing: Spacing,
    /// Added to `leading` timesteps (diffusers' `steps_offset`).
    pub steps_offset: u32,
    /// Where the last step ends (DDIM, DPM-Solver++ and Euler may stop at `abar_0`).
    pub final_sigmas: FinalSigmas,
    /// Optional Langevin corrector.
    pub corrector: Option<Corrector>,
}

impl PlanConfig {
    /// A plan with no corrector and no offset.
    pub fn new(sampler: SamplerKind, steps: usize, spacing: Spacing) -> Self {
        Self {
            sampler,
            steps,
            spacing,
            steps_offset: 0,
            final_sigmas: FinalSigmas::Zero,
            corrector: None,
        }
    }
}

/// A built step table and the runtime options it implies.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// One row per sampling step.
    pub rows: Vec<StepRow>,
    /// Corrector steps per sampling step.
    pub corrector_steps: u8,
}

impl Plan {
    /// Network evaluations of one full run.
    pub fn evaluations(&self) -> usize {
        self.rows.len() * (1 + usize::from(self.corrector_steps))
    }
}

/// A noise level: a training timestep (or [`T_FINAL`]) and its `abar`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Level {
    /// Timestep, or [`T_FINAL`] for the clean sample.
    pub t: i32,
    /// `abar_t` (1 at the clean sample).
    pub abar: f64,
}

impl Level {
    /// `sqrt(abar)`.
    pub fn alpha(&self) -> f64 {
        self.abar.sqrt()
    }
    /// `sqrt(1 - abar)`.
    pub fn sigma(&self) -> f64 {
        (1.0 - self.abar).sqrt()
    }
}

/// The predictor coefficients of one step (see [`StepRow`]).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Coeffs {
    /// Weight of `x_t`.
    pub c_xt: f64,
    /// Weight of `x0_hat`.
    pub c_x0: f64,
    /// Weight of `eps_hat`.
    pub c_eps: f64,
    /// Weights of the `x0_hat` of one, two and three steps back.
    pub c_hist: [f64; 3],
    /// Standard deviation of the added noise.
    pub noise: f64,
}

/// Builds the step table for `cfg` over `schedule`.
pub fn build(schedule: &NoiseSchedule, cfg: &PlanConfig) -> Result<Plan> {
    let invalid = |field, expected| Error::InvalidConfig { field, expected };
    let grid = match cfg.sampler {
        SamplerKind::DpmSolverPp { .. } => Grid::DropLast,
        _ => Grid::Plain,
    };
    let ts = timesteps(
        cfg.spacing,
        schedule.train_steps(),
        cfg.steps,
        cfg.steps_offset,
        grid,
    )?;
    let abar = schedule.alphas_cumprod();
    let abar_at = |t: usize| usable_abar(abar.get(t).copied().unwrap_or(0.0));
    let euler = matches!(
        cfg.sampler,
        SamplerKind::Euler | SamplerKind::EulerAncestral
    );
    let mut levels: Vec<Level> = if euler && cfg.spacing == Spacing::Linspace {
        // diffusers' Euler keeps the fractional timesteps of `linspace` and interpolates
        // sigma between table rows; the network sees the rounded timestep.
        let t_max = schedule.train_steps() as f64 - 1.0;
        let fractional = linspace(0.0, t_max, cfg.steps);
        ts.iter()
            .zip(fractional.iter().rev())
            .map(|(&t, &tf)| Level {
                t: t as i32,
                abar: interpolated_abar(&abar_at, tf),
            })
            .collect()
    } else {
        ts.iter()
            .map(|&t| Level {
                t: t as i32,
                abar: abar_at(t as usize),
            })
            .collect()
    };
    levels.push(match cfg.final_sigmas {
        FinalSigmas::SigmaMin => {
            if !matches!(
                cfg.sampler,
                SamplerKind::Ddim { .. } | SamplerKind::DpmSolverPp { .. } | SamplerKind::Euler
            ) {
                return Err(invalid(
                    "final_sigmas",
                    "zero for DDPM, Euler ancestral and Langevin (sigma_min is for DDIM, DPM-Solver++ and Euler)",
                ));
            }
            Level {
                t: 0,
                abar: abar.first().copied().unwrap_or(1.0),
            }
        }
        FinalSigmas::Zero => Level {
            t: T_FINAL,
            abar: 1.0,
        },
    });

    // The corrector's step eta = 2 (1 - beta) (snr sigma)^2 multiplies x by about (1 - eta)
    // (for Gaussian data, eps_hat = sigma x): it is stable only while eta < 2, which snr < 1
    // guarantees at every level. A larger snr blows up (found by fuzzing: snr 9.6 reached
    // inf and NaN within 12 Euler steps).
    if let Some(c) = cfg.corrector
        && !(c.snr > 0.0 && c.snr < 1.0 && c.steps > 0)
    {
        return Err(invalid("corrector", "0 < snr < 1, steps >= 1"));
    }
    let predictor = |i: usize| -> Result<Coeffs> {
        Ok(match cfg.sampler {
            SamplerKind::Ddpm { variance } => ddpm::coeffs(levels[i], levels[i + 1], variance),
            SamplerKind::Ddim { eta } => {
                if !(eta >= 0.0 && eta.is_finite()) {
                    return Err(invalid("eta", "finite and >= 0"));
                }
                ddim::coeffs(levels[i], levels[i + 1], eta)
            }
            SamplerKind::DpmSolverPp {
                order,
                lower_order_final,
            } => {
                if !(1..=2).contains(&order) {
                    return Err(invalid("solver_order", "1 or 2"));
                }
                let final_step = dpm_solver::FinalStep {
                    lower_order: lower_order_final,
                    at_zero: cfg.final_sigmas == FinalSigmas::Zero,
                };
                dpm_solver::coeffs(&levels, i, order, final_step)
            }
            SamplerKind::Euler => euler::coeffs(levels[i], levels[i + 1], false),
            SamplerKind::EulerAncestral => euler::coeffs(levels[i], levels[i + 1], true),
            SamplerKind::Langevin => {
                if cfg.corrector.is_none() {
                    return Err(invalid("corrector", "set for the Langevin sampler"));
                }
                langevin::predictor(i + 1 == cfg.steps)
            }
        })
    };
    let betas = schedule.betas();
    let mut rows = Vec::with_capacity(cfg.steps);
    for i in 0..cfg.steps {
        let (cur, next) = (levels[i], levels[i + 1]);
        let p = predictor(i)?;
        let (corr_eps, corr_noise) = match cfg.corrector {
            Some(c) => {
                let beta = betas.get(cur.t as usize).copied().unwrap_or(0.0);
                langevin::corrector(cur, beta, c.snr)
            }
            None => (0.0, 0.0),
        };
        let row = StepRow::from_coeffs(
            cur.t as u32,
            next.t,
            [
                cur.alpha(),
                cur.sigma(),
                p.c_xt,
                p.c_x0,
                p.c_eps,
                p.c_hist[0],
                p.noise,
                corr_eps,
                corr_noise,
                p.c_hist[1],
                p.c_hist[2],
            ]
            .map(|v| v as f32),
        );
        row.validate(i)?;
        rows.push(row);
    }
    Ok(Plan {
        rows,
        corrector_steps: cfg.corrector.map_or(0, |c| c.steps),
    })
}
