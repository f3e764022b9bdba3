//! Flow matching (rectified flow, Lipman et al. 2023; Liu et al. 2023) with Euler steps, as in
//! diffusers' `FlowMatchEulerDiscreteScheduler`.
//!
//! The path is `x_s = (1 - s) x0 + s eps` for `s` in `[0, 1]` and the network predicts the
//! velocity `v = eps - x0` (see [`crate::prediction::PredictionType::FlowVelocity`]); it sees
//! the timestep `s T` rounded (`T` training timesteps, 1000 by default). An Euler step to `s'`
//! is `x' = x + (s' - s) v`; with `x0 = x - s v` that is `x' = (s'/s) x + (1 - s'/s) x0`.
//!
//! The levels are diffusers': `shift` maps `s` to `shift s / (1 + (shift - 1) s)` (more steps
//! at high noise for `shift > 1`); the grid runs evenly from `T` to the shifted `T * (1 / T)`
//! and is shifted again (diffusers shifts its lowest level twice), then ends at `s = 0`.

use super::plan::Coeffs;
use crate::schedule::betas::linspace;
use crate::{Error, Result};
use std::vec::Vec;

/// diffusers' time shift of a level.
fn shifted(s: f64, shift: f64) -> f64 {
    shift * s / (1.0 + (shift - 1.0) * s)
}

/// The `steps` levels visited, highest first (the end level `s = 0` not included).
pub fn sigmas(train_steps: usize, steps: usize, shift: f64) -> Result<Vec<f64>> {
    if !(shift > 0.0 && shift.is_finite()) {
        return Err(Error::InvalidConfig {
            field: "shift",
            expected: "finite and > 0",
        });
    }
    if steps == 0 || train_steps == 0 {
        return Err(Error::InvalidConfig {
            field: "steps",
            expected: "at least 1 (and at least 1 training step)",
        });
    }
    let t = train_steps as f64;
    let s_max = shifted(1.0, shift);
    let s_min = shifted(1.0 / t, shift);
    Ok(linspace(s_max * t, s_min * t, steps)
        .into_iter()
        .map(|ts| shifted(ts / t, shift))
        .collect())
}

/// The Euler step from level `s` to `s_next`.
pub fn coeffs(s: f64, s_next: f64) -> Coeffs {
    let r = s_next / s;
    Coeffs {
        c_xt: r,
        c_x0: 1.0 - r,
        ..Coeffs::default()
    }
}
