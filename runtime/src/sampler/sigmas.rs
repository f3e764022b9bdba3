//! Noise levels off the training grid (host side): `sigma = sqrt((1 - abar) / abar)` at
//! fractional timesteps, and the spacing of Karras et al. (2022), as diffusers computes them.

use std::vec::Vec;

/// `sigma = sqrt((1 - abar) / abar)`, the variance-exploding noise level.
pub fn sigma_of(abar: f64) -> f64 {
    ((1.0 - abar) / abar).sqrt()
}

/// The `abar` of a variance-exploding noise level: `1 / (1 + sigma^2)`.
pub fn abar_of(sigma: f64) -> f64 {
    1.0 / (1.0 + sigma * sigma)
}

/// `sigmas` (one per training timestep) at a fractional timestep `tf`, interpolated linearly
/// between the neighbouring rows as numpy's `interp` does.
pub fn interpolate(sigmas: &[f64], tf: f64) -> f64 {
    let last = sigmas.len().saturating_sub(1);
    let lo = (tf.floor().max(0.0) as usize).min(last);
    let w = tf - lo as f64;
    if w <= 0.0 || lo == last {
        sigmas[lo]
    } else {
        sigmas[lo] * (1.0 - w) + sigmas[lo + 1] * w
    }
}

/// Karras et al.'s `n` levels from `sigma_max` down to `sigma_min`: evenly spaced in
/// `sigma^(1/7)`.
pub fn karras(sigma_min: f64, sigma_max: f64, n: usize) -> Vec<f64> {
    const RHO: f64 = 7.0;
    let (lo, hi) = (sigma_min.powf(1.0 / RHO), sigma_max.powf(1.0 / RHO));
    crate::schedule::betas::linspace(0.0, 1.0, n)
        .into_iter()
        .map(|ramp| (hi + ramp * (lo - hi)).powf(RHO))
        .collect()
}

/// The fractional timestep of `sigma` on a table of `ln(sigma_t)` (ascending), interpolated in
/// log sigma between the two rows around it (diffusers' `_sigma_to_t`).
pub fn timestep_of(sigma: f64, log_sigmas: &[f64]) -> f64 {
    let log_sigma = sigma.max(1e-10).ln();
    let below = log_sigmas.iter().filter(|&&l| log_sigma - l >= 0.0).count();
    let low = below
        .saturating_sub(1)
        .min(log_sigmas.len().saturating_sub(2));
    let (l, h) = (log_sigmas[low], log_sigmas[low + 1]);
    let w = ((l - log_sigma) / (l - h)).clamp(0.0, 1.0);
    (1.0 - w) * low as f64 + w * (low + 1) as f64
}
