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
    /// Dynamic thresholding of `x0_hat` (takes the place of `clip_sample`, as in diffusers).
    pub thresholding: Option<Thresholding>,
}

/// Dynamic thresholding of the data prediction, as a pack or a plan records it (see
/// [`Thresholding`]).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DynamicThreshold {
    /// The quantile of `|x0_hat|`, in (0, 1] (diffusers' `dynamic_thresholding_ratio`).
    pub ratio: f32,
    /// The largest threshold, >= 1 (diffusers' `sample_max_value`).
    pub max_value: f32,
}

impl DynamicThreshold {
    /// The runtime's setting for samples of `elements` elements.
    pub fn for_samples_of(self, elements: usize) -> Thresholding {
        Thresholding {
            ratio: self.ratio,
            max_value: self.max_value,
            elements,
        }
    }
}

/// Dynamic thresholding (Saharia et al. 2022, Imagen; diffusers' `thresholding`): per sample,
/// `s` is the `ratio` quantile of `|x0_hat|` over its elements, clamped to `[1, max_value]`,
/// and `x0_hat` becomes `clamp(x0_hat, -s, s) / s`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Thresholding {
    /// The quantile, in (0, 1] (diffusers' `dynamic_thresholding_ratio`, 0.995).
    pub ratio: f32,
    /// The largest threshold, >= 1 (diffusers' `sample_max_value`).
    pub max_value: f32,
    /// Elements of one sample (the quantile is per sample of the batch).
    pub elements: usize,
}

impl Thresholding {
    /// The threshold of one sample whose `|x0_hat|` values are `abs`: torch's
    /// linear-interpolation quantile, clamped to `[1, max_value]`.
    fn threshold(&self, abs: &[f32]) -> f32 {
        let Some(last) = abs.len().checked_sub(1) else {
            return 1.0;
        };
        let rank = self.ratio * last as f32;
        let below = (rank as usize).min(last);
        let w = rank - below as f32;
        let lo = order_statistic(abs, below);
        let hi = if below < last {
            order_statistic(abs, below + 1)
        } else {
            lo
        };
        // torch.lerp's two-sided form.
        let q = if w < 0.5 {
            lo + w * (hi - lo)
        } else {
            hi - (hi - lo) * (1.0 - w)
        };
        q.clamp(1.0, self.max_value)
    }
}

/// The `k`-th smallest (from 0) of non-negative values, by bisection on their bit patterns
/// (which order non-negative floats, NaN last): 32 counting passes, no reordering and a few
/// dozen instructions of code, where a general selection would cost kilobytes of flash.
fn order_statistic(values: &[f32], k: usize) -> f32 {
    let at_most = |v: u32| values.iter().filter(|x| x.to_bits() <= v).count();
    let (mut lo, mut hi) = (0u32, u32::MAX);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if at_most(mid) > k {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    f32::from_bits(lo)
}

/// Number of `f32` elements each caller buffer must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StateSizes {
    /// `x_t`.
    pub sample: usize,
    /// The network output.
    pub model_output: usize,
    /// The history buffer: `sample` elements per earlier data prediction the table weighs
    /// (0 to [`MAX_HISTORY`]), then the thresholding scratch.
    pub history: usize,
    /// The part of `history` that is thresholding scratch (one sample's elements, or 0).
    pub scratch: usize,
}

impl StateSizes {
    /// Sizes for a batch of `sample_len` elements with `history_slots` earlier data
    /// predictions kept and `scratch` elements of thresholding scratch.
    pub const fn new(sample_len: usize, history_slots: usize, scratch: usize) -> Self {
        Self {
            sample: sample_len,
            model_output: sample_len,
            history: sample_len * history_slots + scratch,
            scratch,
        }
    }

    /// Earlier data predictions kept.
    pub const fn history_slots(&self) -> usize {
        match self
            .history
            .saturating_sub(self.scratch)
            .checked_div(self.sample)
        {
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
        if let Some(th) = cfg.thresholding
            && !(th.ratio > 0.0
                && th.ratio <= 1.0
                && th.max_value >= 1.0
                && th.max_value.is_finite()
                && th.elements > 0
                && sample_len.is_multiple_of(th.elements))
        {
            return Err(Error::InvalidConfig {
                field: "thresholding",
                expected: "ratio in (0, 1], finite max_value >= 1, elements dividing the batch",
            });
        }
        let mut slots = 0;
        for i in 0..table.steps() {
            let row = Self::row_of(table, i)?;
            row.validate(i)?;
            row.validate_path(i, cfg.prediction)?;
            slots = slots.max(row.history_slots());
        }
        let scratch = cfg.thresholding.map_or(0, |th| th.elements);
        Ok(Self {
            table,
            cfg,
            sizes: StateSizes::new(sample_len, slots, scratch),
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
        let scratch_at = history.len().saturating_sub(self.sizes.scratch);
        let (history, scratch) = history.split_at_mut(scratch_at);
        // Thresholding needs all of a sample's x0 before any of its elements is updated: the
        // loop runs sample by sample (one chunk when there is no thresholding).
        let chunk = self.cfg.thresholding.map_or(n, |th| th.elements).max(1);
        let mut j = 0;
        for (xc, oc) in x.chunks_mut(chunk).zip(model_out.chunks(chunk)) {
            let threshold = match self.cfg.thresholding {
                Some(th) => {
                    for ((a, &xv), &ov) in scratch.iter_mut().zip(xc.iter()).zip(oc) {
                        *a = pred.to_x0_eps(ov, xv, row.alpha, row.sigma).0.abs();
                    }
                    Some(th.threshold(scratch))
                }
                None => None,
            };
            for (xj, &out) in xc.iter_mut().zip(oc) {
                let (x0, eps) = pred.to_x0_eps(out, *xj, row.alpha, row.sigma);
                let x0 = match (threshold, clip) {
                    (Some(s), _) => x0.clamp(-s, s) / s,
                    (None, Some(r)) => x0.clamp(-r, r),
                    (None, None) => x0,
                };
                // Slot k of element j sits at `history[k * n + j]`, newest first. A slot not
                // yet filled (first steps, or a start from a signal) stands in the current
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
                let mut acc =
                    row.c_xt * *xj + row.c_x0 * x0 + row.c_eps * eps + row.c_hist * prev[0];
                if slots > 1 {
                    acc = acc + row.c_hist2 * prev[1] + row.c_hist3 * prev[2];
                }
                *xj = acc + row.noise * z;
                j += 1;
            }
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
