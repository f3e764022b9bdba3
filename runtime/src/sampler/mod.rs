//! The reverse-diffusion loop.
//!
//! [`Sampler`] walks a step table (see [`crate::schedule`]) over caller-provided buffers. Which
//! sampler runs (DDPM, DDIM, DPM-Solver++ 1/2M/3M and its SDE variant, UniPC, Euler, Euler
//! ancestral, Heun, annealed Langevin) is decided entirely by the table's coefficients, built
//! on the host by [`plan`] from the files beside it: [`ddpm`], [`ddim`], [`dpm_solver`],
//! [`unipc`], [`euler`], [`heun`], [`langevin`]; [`sigmas`] places fractional and Karras noise
//! levels.
//!
//! One step `i` of the loop:
//! 1. Langevin corrector, `corrector_steps` times at the level of row `i`:
//!    `x += corr_eps * eps_hat + corr_noise * z`.
//! 2. Predictor: `x = c_xt x + c_x0 clip(x0_hat) + c_eps eps_hat + c_hist x0_hat[-1] +
//!    c_hist2 x0_hat[-2] + c_hist3 x0_hat[-3] + noise z` (the earlier data predictions the
//!    multistep solvers and Heun's second evaluation weigh).
//!
//! Every network evaluation happens at a timestep of the table, so per-step tables on the
//! device (time embeddings, activation scales) are indexed by the row number.

#[cfg(feature = "std")]
pub mod ddim;
#[cfg(feature = "std")]
pub mod ddpm;
#[cfg(feature = "std")]
pub mod dpm_solver;
#[cfg(feature = "std")]
pub mod euler;
#[cfg(feature = "std")]
pub mod flow;
#[cfg(feature = "std")]
pub mod heun;
#[cfg(feature = "std")]
pub mod langevin;
#[cfg(feature = "std")]
pub mod plan;
#[cfg(feature = "std")]
pub mod sigmas;
#[cfg(feature = "std")]
pub mod unipc;

use crate::error::Buffer;
use crate::noise::NoiseSource;
use crate::prediction::PredictionType;
use crate::schedule::{MAX_HISTORY, StepRow, StepTable};
use crate::{Denoiser, Error, Result};

/// Runtime options of a sampler (everything else is in the step table).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SamplerConfig {
    /// What the network predicts.
    pub prediction: PredictionType,
    /// Clip `x0_hat` to `[-r, r]` (diffusers' `clip_sample` with `clip_sample_range = r`).
    pub clip_sample: Option<f32>,
    /// Langevin corrector steps per sampling step (0: no corrector).
    pub corrector_steps: u8,
}

/// Number of `f32` elements each caller buffer must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StateSizes {
    /// `x_t`.
    pub sample: usize,
    /// The network output.
    pub model_output: usize,
    /// The multistep history: `sample` elements per earlier data prediction the table
    /// weighs (0 to [`MAX_HISTORY`]).
    pub history: usize,
}

impl StateSizes {
    /// Sizes for a batch of `sample_len` elements with `history_slots` earlier data
    /// predictions kept.
    pub const fn new(sample_len: usize, history_slots: usize) -> Self {
        Self {
            sample: sample_len,
            model_output: sample_len,
            history: sample_len * history_slots,
        }
    }

    /// Earlier data predictions kept.
    pub const fn history_slots(&self) -> usize {
        match self.history.checked_div(self.sample) {
            Some(slots) => slots,
            None => 0,
        }
    }

    /// Total bytes of the three buffers.
    pub const fn bytes(&self) -> usize {
        (self.sample + self.model_output + self.history) * core::mem::size_of::<f32>()
    }
}

/// The caller's buffers, checked against [`StateSizes`] by [`Sampler::state`].
#[derive(Debug)]
pub struct SamplerState<'b> {
    x: &'b mut [f32],
    model_out: &'b mut [f32],
    history: &'b mut [f32],
    /// History slots holding a real earlier prediction (the others stand in the current one).
    history_filled: usize,
}

impl SamplerState<'_> {
    /// The current sample `x_t` (all batch elements back to back).
    pub fn sample(&self) -> &[f32] {
        self.x
    }

    /// Mutable access to the sample, e.g. to load a signal for [`Sampler::init_from`].
    pub fn sample_mut(&mut self) -> &mut [f32] {
        self.x
    }
}

/// A reverse-diffusion sampler over a step table.
#[derive(Debug)]
pub struct Sampler<'t, T: StepTable + ?Sized> {
    table: &'t T,
    cfg: SamplerConfig,
    sizes: StateSizes,
}

impl<'t, T: StepTable + ?Sized> Sampler<'t, T> {
    /// Validates the table and configuration for batches of `sample_len` elements.
    pub fn new(table: &'t T, cfg: SamplerConfig, sample_len: usize) -> Result<Self> {
        if table.steps() == 0 {
            return Err(Error::EmptySchedule);
        }
        if sample_len == 0 {
            return Err(Error::InvalidConfig {
                field: "sample_len",
                expected: "at least 1",
            });
        }
        if let Some(r) = cfg.clip_sample
            && !(r > 0.0 && r.is_finite())
        {
            return Err(Error::InvalidConfig {
                field: "clip_sample",
                expected: "a positive finite range",
            });
        }
        let mut slots = 0;
        for i in 0..table.steps() {
            let row = Self::row_of(table, i)?;
            row.validate(i)?;
            row.validate_path(i, cfg.prediction)?;
            slots = slots.max(row.history_slots());
        }
        Ok(Self {
            table,
            cfg,
            sizes: StateSizes::new(sample_len, slots),
        })
    }

    fn row_of(table: &T, step: usize) -> Result<StepRow> {
        table.row(step).ok_or(Error::StepOutOfRange {
            step,
            steps: table.steps(),
        })
    }

    /// Number of sampling steps.
    pub fn steps(&self) -> usize {
        self.table.steps()
    }

    /// Row `step` of the table.
    pub fn row(&self, step: usize) -> Result<StepRow> {
        Self::row_of(self.table, step)
    }

    /// The buffer sizes this sampler needs.
    pub fn state_sizes(&self) -> StateSizes {
        self.sizes
    }

    /// Wraps the caller's buffers after checking their sizes. `history` may be longer than
    /// needed (only the required prefix is used) so one buffer serves every sampler.
    pub fn state<'b>(
        &self,
        x: &'b mut [f32],
        model_out: &'b mut [f32],
        history: &'b mut [f32],
    ) -> Result<SamplerState<'b>> {
        let check = |buffer, expected, got| {
            if got == expected {
                Ok(())
            } else {
                Err(Error::BufferSize {
                    buffer,
                    expected,
                    got,
                })
            }
        };
        check(Buffer::Sample, self.sizes.sample, x.len())?;
        check(
            Buffer::ModelOutput,
            self.sizes.model_output,
            model_out.len(),
        )?;
        let history_len = history.len();
        let history = history
            .get_mut(..self.sizes.history)
            .ok_or(Error::BufferSize {
                buffer: Buffer::History,
                expected: self.sizes.history,
                got: history_len,
            })?;
        Ok(SamplerState {
            x,
            model_out,
            history,
            history_filled: 0,
        })
    }

    /// Fills `x` with pure noise, the start of a full run.
    pub fn init_noise(
        &self,
        state: &mut SamplerState<'_>,
        noise: &mut impl NoiseSource,
    ) -> Result<()> {
        state.history_filled = 0;
        noise.fill(state.x)
    }

    /// Starts from the signal held in `x` (see [`SignalStart`]); returns the first step to
    /// run.
    pub fn init_from(
        &self,
        state: &mut SamplerState<'_>,
        start: SignalStart,
        noise: &mut impl NoiseSource,
    ) -> Result<usize> {
        let (step, renoise) = match start {
            SignalStart::Edit(k) => (k, true),
            SignalStart::Denoise(k) => (k, false),
        };
        let row = self.row(step)?;
        state.history_filled = 0;
        for x in state.x.iter_mut() {
            *x = if renoise {
                row.alpha * *x + row.sigma * noise.next_normal()?
            } else {
                row.alpha * *x
            };
        }
        Ok(step)
    }

    /// Runs steps `start..steps()`.
    pub fn run(
        &self,
        start: usize,
        state: &mut SamplerState<'_>,
        denoiser: &mut impl Denoiser,
        labels: &[u16],
        noise: &mut impl NoiseSource,
    ) -> Result<()> {
        for i in start..self.steps() {
            self.step(i, state, denoiser, labels, noise)?;
        }
        Ok(())
    }

    /// Runs sampling step `i`: the corrector (if configured), then the predictor.
    pub fn step(
        &self,
        i: usize,
        state: &mut SamplerState<'_>,
        denoiser: &mut impl Denoiser,
        labels: &[u16],
        noise: &mut impl NoiseSource,
    ) -> Result<()> {
        let row = self.row(i)?;
        let pred = self.cfg.prediction;
        let SamplerState {
            x,
            model_out,
            history,
            history_filled,
        } = state;

        for _ in 0..self.cfg.corrector_steps {
            denoiser.eval(x, row.t, i, labels, model_out)?;
            for (xj, &out) in x.iter_mut().zip(model_out.iter()) {
                let (_, eps) = pred.to_x0_eps(out, *xj, row.alpha, row.sigma);
                let z = noise.next_normal()?;
                *xj += row.corr_eps * eps + row.corr_noise * z;
            }
        }

        denoiser.eval(x, row.t, i, labels, model_out)?;
        let clip = self.cfg.clip_sample;
        let n = x.len();
        let slots = self.sizes.history_slots();
        let filled = *history_filled;
        for (j, (xj, &out)) in x.iter_mut().zip(model_out.iter()).enumerate() {
            let (x0, eps) = pred.to_x0_eps(out, *xj, row.alpha, row.sigma);
            let x0 = match clip {
                Some(r) => x0.clamp(-r, r),
                None => x0,
            };
            // Slot k of element j sits at `history[k * n + j]`, newest first. A slot not yet
            // filled (first steps, or a start from a signal) stands in the current
            // prediction: every multistep formula then falls back to first order.
            let mut prev = [0.0f32; MAX_HISTORY];
            for (k, p) in prev.iter_mut().enumerate().take(slots) {
                *p = match history.get(k * n + j) {
                    Some(h) if k < filled => *h,
                    _ => x0,
                };
            }
            for k in (0..slots).rev() {
                let value = if k == 0 { x0 } else { prev[k - 1] };
                if let Some(h) = history.get_mut(k * n + j) {
                    *h = value;
                }
            }
            let z = if row.noise > 0.0 {
                noise.next_normal()?
            } else {
                0.0
            };
            let mut acc = row.c_xt * *xj + row.c_x0 * x0 + row.c_eps * eps + row.c_hist * prev[0];
            if slots > 1 {
                acc = acc + row.c_hist2 * prev[1] + row.c_hist3 * prev[2];
            }
            *xj = acc + row.noise * z;
        }
        *history_filled = (filled + 1).min(slots);
        Ok(())
    }
}
/// How a run starts from a given signal instead of pure noise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalStart {
    /// SDEdit (Meng et al. 2022): the signal is noised to the level of step `k`
    /// (`x = alpha_t x + sigma_t z`) and sampled from there; it keeps the signal's coarse
    /// shape and redraws the detail ([`sdedit_start`] picks `k` from a strength).
    Edit(usize),
    /// Denoising: the signal is a clean one plus Gaussian noise of standard deviation
    /// `sigma_t / alpha_t` of step `k`, so `alpha_t x` already is a sample of the chain at
    /// that step (`x = alpha_t x`, no noise added) and the steps from `k` remove the noise
    /// ([`noise_step`] picks `k` from the noise level).
    Denoise(usize),
}

/// The step of `table` whose noise, seen at the data's scale (`sigma_t / alpha_t`), is
/// nearest to `noise_std` (in log ratio): where a recording with that much noise enters as a
/// sample of the chain ([`SignalStart::Denoise`]). `None` for a `noise_std` that is not
/// positive.
pub fn noise_step<T: StepTable + ?Sized>(table: &T, noise_std: f32) -> Option<usize> {
    if !(noise_std > 0.0 && noise_std.is_finite()) {
        return None;
    }
    let gap = |k: usize| -> Option<f32> {
        let r = table.row(k)?;
        let ratio = r.sigma / r.alpha / noise_std;
        (ratio > 0.0).then(|| if ratio >= 1.0 { ratio } else { 1.0 / ratio })
    };
    (0..table.steps())
        .filter_map(|k| gap(k).map(|g| (k, g)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(k, _)| k)
}

/// The first step of an SDEdit run of `strength` in (0, 1] over `steps` steps (the fraction
/// of the steps that run, rounded half up, at least one), or `None` for a strength out of
/// range. The host CLI and the firmware build both use it, so they start at the same step.
pub fn sdedit_start(steps: usize, strength: f32) -> Option<usize> {
    if !(strength > 0.0 && strength <= 1.0) || steps == 0 {
        return None;
    }
    let run = ((strength * steps as f32 + 0.5) as usize).clamp(1, steps);
    Some(steps - run)
}
