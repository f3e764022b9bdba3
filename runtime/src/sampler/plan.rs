//! Builds a step table from a noise schedule and a sampler configuration (host side, `f64`).

use super::DynamicThreshold;
use super::sigmas::{self, abar_of, sigma_of};
use super::{ddim, ddpm, dpm_solver, euler, flow, heun, langevin, unipc};
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
        /// Solver order: 1 (DDIM-like), 2 (2M) or 3 (3M).
        order: u8,
        /// Lower order at the end when there are fewer than 15 steps.
        lower_order_final: bool,
    },
    /// SDE-DPM-Solver++ (diffusers' `sde-dpmsolver++`): fresh noise at every step.
    SdeDpmSolverPp {
        /// Solver order: 1 or 2.
        order: u8,
        /// Lower order at the end when there are fewer than 15 steps.
        lower_order_final: bool,
    },
    /// UniPC (`bh2`, data prediction) with its corrector, multistep.
    UniPc {
        /// Solver order: 1, 2 or 3.
        order: u8,
        /// The order drops to the steps left at the end.
        lower_order_final: bool,
    },
    /// Euler (deterministic), in the variance-exploding coordinates of Karras et al.
    Euler,
    /// Euler ancestral.
    EulerAncestral,
    /// Heun's second-order method: two network evaluations per step (one for the last).
    Heun,
    /// Annealed Langevin dynamics alone: corrector steps at every level, then a final
    /// Tweedie denoising step. Needs a [`Corrector`].
    Langevin,
    /// Flow matching with Euler steps (diffusers' `FlowMatchEulerDiscreteScheduler`), for
    /// flow-velocity models; spacing, betas and offsets do not apply.
    FlowMatchEuler {
        /// Time shift (diffusers' `shift`; 1: none, 3: Stable Diffusion 3's).
        shift: f64,
    },
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
    /// Where the last step ends (DDIM, DPM-Solver++, UniPC and Euler may stop at `abar_0`).
    pub final_sigmas: FinalSigmas,
    /// Noise levels spaced as Karras et al. (2022) do, `sigma^(1/7)` evenly, instead of at the
    /// spaced timesteps (DPM-Solver++, UniPC, Euler, Heun; diffusers' `use_karras_sigmas`).
    pub karras: bool,
    /// Optional Langevin corrector.
    pub corrector: Option<Corrector>,
    /// Optional dynamic thresholding of the data prediction (instead of clipping it).
    pub thresholding: Option<DynamicThreshold>,
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
            karras: false,
            corrector: None,
            thresholding: None,
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
    /// Dynamic thresholding of the data prediction, if any.
    pub thresholding: Option<DynamicThreshold>,
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

/// The noise levels a plan visits: one per step, then the end point.
fn levels(schedule: &NoiseSchedule, cfg: &PlanConfig) -> Result<Vec<Level>> {
    let invalid = |field, expected| Error::InvalidConfig { field, expected };
    let multistep = matches!(
        cfg.sampler,
        SamplerKind::DpmSolverPp { .. }
            | SamplerKind::SdeDpmSolverPp { .. }
            | SamplerKind::UniPc { .. }
    );
    let karras_style = matches!(cfg.sampler, SamplerKind::Euler | SamplerKind::Heun);
    let ts = timesteps(
        cfg.spacing,
        schedule.train_steps(),
        cfg.steps,
        cfg.steps_offset,
        if multistep {
            Grid::DropLast
        } else {
            Grid::Plain
        },
    )?;
    let abar = schedule.alphas_cumprod();
    let train_sigmas: Vec<f64> = (0..abar.len())
        .map(|t| sigma_of(usable_abar(abar[t])))
        .collect();
    let euler_like = karras_style || cfg.sampler == SamplerKind::EulerAncestral;
    // Per step: the timestep the network sees, the level's sigma and its abar (the table's
    // own abar on a table row, `1 / (1 + sigma^2)` between rows).
    let mut spaced: Vec<(u32, f64, f64)> = if euler_like && cfg.spacing == Spacing::Linspace {
        // diffusers' Euler and Heun keep the fractional timesteps of `linspace` and interpolate
        // sigma between table rows; the network sees the rounded timestep.
        let t_max = schedule.train_steps() as f64 - 1.0;
        ts.iter()
            .zip(linspace(0.0, t_max, cfg.steps).iter().rev())
            .map(|(&t, &tf)| {
                let s = sigmas::interpolate(&train_sigmas, tf);
                let abar = if tf.fract() == 0.0 {
                    usable_abar(abar[t as usize])
                } else {
                    abar_of(s)
                };
                (t, s, abar)
            })
            .collect()
    } else {
        ts.iter()
            .map(|&t| (t, train_sigmas[t as usize], usable_abar(abar[t as usize])))
            .collect()
    };
    if cfg.karras {
        if !(multistep || karras_style) {
            return Err(invalid(
                "karras",
                "DPM-Solver++, UniPC, Euler or Heun (Karras sigmas)",
            ));
        }
        // The multistep solvers span the whole training range; Euler and Heun the spaced one.
        let (lo, hi) = match (multistep, spaced.first(), spaced.last()) {
            (true, _, _) => (train_sigmas[0], train_sigmas[train_sigmas.len() - 1]),
            (false, Some(first), Some(last)) => (last.1, first.1),
            _ => return Err(Error::EmptySchedule),
        };
        let log_sigmas: Vec<f64> = train_sigmas.iter().map(|s| s.ln()).collect();
        spaced = sigmas::karras(lo, hi, cfg.steps)
            .into_iter()
            .map(|s| {
                let t = sigmas::timestep_of(s, &log_sigmas).round_ties_even();
                (t as u32, s, abar_of(s))
            })
            .collect();
    }
    let last = spaced.last().copied();
    let mut levels: Vec<Level> = spaced
        .into_iter()
        .map(|(t, _, abar)| Level { t: t as i32, abar })
        .collect();
    levels.push(match cfg.final_sigmas {
        FinalSigmas::SigmaMin => {
            if !matches!(
                cfg.sampler,
                SamplerKind::Ddim { .. }
                    | SamplerKind::DpmSolverPp { .. }
                    | SamplerKind::SdeDpmSolverPp { .. }
                    | SamplerKind::UniPc { .. }
                    | SamplerKind::Euler
            ) {
                return Err(invalid(
                    "final_sigmas",
                    "zero for DDPM, Euler ancestral, Heun and Langevin (sigma_min is for DDIM, DPM-Solver++, UniPC and Euler)",
                ));
            }
            // Karras sigmas end at their own smallest level, the others at abar_0.
            let abar_min = match (cfg.karras, last) {
                (true, Some((_, s, _))) => abar_of(s),
                _ => abar.first().copied().unwrap_or(1.0),
            };
            Level {
                t: 0,
                abar: abar_min,
            }
        }
        FinalSigmas::Zero => Level {
            t: T_FINAL,
            abar: 1.0,
        },
    });
    Ok(levels)
}

/// The moves of a plan: per row, the level it starts at, the level it reaches and its
/// predictor coefficients.
fn moves(cfg: &PlanConfig, levels: &[Level]) -> Result<Vec<(Level, Level, Coeffs)>> {
    let invalid = |field, expected| Error::InvalidConfig { field, expected };
    let order_in = |order: u8, max: u8| {
        if (1..=max).contains(&order) {
            Ok(order)
        } else if max == 2 {
            Err(invalid("solver_order", "1 or 2"))
        } else {
            Err(invalid("solver_order", "1, 2 or 3"))
        }
    };
    let ends_at_zero = cfg.final_sigmas == FinalSigmas::Zero;
    let mut out = Vec::with_capacity(2 * cfg.steps);
    for i in 0..cfg.steps {
        let (cur, next) = (levels[i], levels[i + 1]);
        let c = match cfg.sampler {
            SamplerKind::Ddpm { variance } => ddpm::coeffs(cur, next, variance),
            SamplerKind::Ddim { eta } => {
                if !(eta >= 0.0 && eta.is_finite()) {
                    return Err(invalid("eta", "finite and >= 0"));
                }
                ddim::coeffs(cur, next, eta)
            }
            SamplerKind::DpmSolverPp {
                order,
                lower_order_final,
            }
            | SamplerKind::SdeDpmSolverPp {
                order,
                lower_order_final,
            } => {
                let sde = matches!(cfg.sampler, SamplerKind::SdeDpmSolverPp { .. });
                dpm_solver::Solver {
                    order: order_in(order, if sde { 2 } else { 3 })?,
                    lower_order_final,
                    ends_at_zero,
                    sde,
                }
                .coeffs(levels, i)
            }
            SamplerKind::UniPc {
                order,
                lower_order_final,
            } => unipc::Solver {
                order: order_in(order, 3)?,
                lower_order_final,
            }
            .coeffs(levels, i),
            SamplerKind::Euler | SamplerKind::Heun => euler::coeffs(cur, next, false),
            SamplerKind::EulerAncestral => euler::coeffs(cur, next, true),
            SamplerKind::Langevin => {
                if cfg.corrector.is_none() {
                    return Err(invalid("corrector", "set for the Langevin sampler"));
                }
                langevin::predictor(i + 1 == cfg.steps)
            }
            SamplerKind::FlowMatchEuler { .. } => {
                return Err(invalid("sampler", "a diffusion sampler here"));
            }
        };
        out.push((cur, next, c));
        if cfg.sampler == SamplerKind::Heun && i + 1 < cfg.steps {
            out.push((next, next, heun::correction(cur, next)));
        }
    }
    Ok(out)
}

/// One row before rounding to `f32`.
struct RowSpec {
    /// The timestep the network sees and the one the step reaches.
    t: i32,
    t_next: i32,
    /// `(alpha, sigma)` of the row's level.
    level: [f64; 2],
    predictor: Coeffs,
    /// The Langevin corrector's `(corr_eps, corr_noise)`.
    corrector: (f64, f64),
}

/// Builds the step table for `cfg` over `schedule`.
pub fn build(schedule: &NoiseSchedule, cfg: &PlanConfig) -> Result<Plan> {
    let invalid = |field, expected| Error::InvalidConfig { field, expected };
    // The corrector's step eta = 2 (1 - beta) (snr sigma)^2 multiplies x by about (1 - eta)
    // (for Gaussian data, eps_hat = sigma x): it is stable only while eta < 2, which snr < 1
    // guarantees at every level. A larger snr blows up (found by fuzzing: snr 9.6 reached
    // inf and NaN within 12 Euler steps).
    if let Some(c) = cfg.corrector
        && !(c.snr > 0.0 && c.snr < 1.0 && c.steps > 0)
    {
        return Err(invalid("corrector", "0 < snr < 1, steps >= 1"));
    }
    let mut steps: Vec<RowSpec> = Vec::new();
    if let SamplerKind::FlowMatchEuler { shift } = cfg.sampler {
        if cfg.corrector.is_some() || cfg.karras || cfg.final_sigmas != FinalSigmas::Zero {
            return Err(invalid(
                "sampler",
                "flow matching without a corrector, Karras sigmas or sigma_min",
            ));
        }
        let t_max = schedule.train_steps() as f64;
        let s = flow::sigmas(schedule.train_steps(), cfg.steps, shift)?;
        let t_of = |s: f64| (s * t_max).round_ties_even() as i32;
        for (i, &si) in s.iter().enumerate() {
            let next = s.get(i + 1).copied().unwrap_or(0.0);
            let t_next = if next > 0.0 { t_of(next) } else { T_FINAL };
            steps.push(RowSpec {
                t: t_of(si),
                t_next,
                level: [1.0 - si, si],
                predictor: flow::coeffs(si, next),
                corrector: (0.0, 0.0),
            });
        }
    } else {
        let levels = levels(schedule, cfg)?;
        let betas = schedule.betas();
        for (cur, next, p) in moves(cfg, &levels)? {
            let corrector = match cfg.corrector {
                Some(c) => {
                    let beta = betas.get(cur.t as usize).copied().unwrap_or(0.0);
                    langevin::corrector(cur, beta, c.snr)
                }
                None => (0.0, 0.0),
            };
            steps.push(RowSpec {
                t: cur.t,
                t_next: next.t,
                level: [cur.alpha(), cur.sigma()],
                predictor: p,
                corrector,
            });
        }
    }
    let mut rows = Vec::with_capacity(steps.len());
    for (i, r) in steps.into_iter().enumerate() {
        let (p, (corr_eps, corr_noise)) = (r.predictor, r.corrector);
        let row = StepRow::from_coeffs(
            r.t as u32,
            r.t_next,
            [
                r.level[0],
                r.level[1],
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
    if let Some(th) = cfg.thresholding
        && !(th.ratio > 0.0 && th.ratio <= 1.0 && th.max_value >= 1.0 && th.max_value.is_finite())
    {
        return Err(invalid(
            "thresholding",
            "ratio in (0, 1] and a finite max_value >= 1",
        ));
    }
    Ok(Plan {
        rows,
        corrector_steps: cfg.corrector.map_or(0, |c| c.steps),
        thresholding: cfg.thresholding,
    })
}
