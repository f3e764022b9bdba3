//! Heun's second-order method (Karras et al. 2022), as in diffusers' `HeunDiscreteScheduler`:
//! an Euler step from `s_i` to `s_j`, then a second evaluation at `s_j` that averages the two
//! slopes. Two rows per step (the last step, to `sigma = 0`, is Euler alone).
//!
//! In the variance-exploding coordinates `X = x / alpha`, `s = sigma / alpha`, the Euler step
//! lands on `X_j = X_i + (s_j - s_i) (X_i - x0_i) / s_i`, so the first slope is
//! `(X_j - x0_i) / s_j`, and the averaged step from `X_i` is
//! `X_j + (s_j - s_i) / (2 s_j) (x0_i - x0_j)`: the second row weighs the current data
//! prediction and the previous one (the history), with `c_xt = 1` (it stays at level `j`).

use super::plan::{Coeffs, Level};

/// Coefficients of the second evaluation at `j`, after the Euler step from `i`.
pub fn correction(i: Level, j: Level) -> Coeffs {
    let s = |l: Level| l.sigma() / l.alpha();
    let w = j.alpha() * (s(j) - s(i)) / (2.0 * s(j));
    Coeffs {
        c_xt: 1.0,
        c_x0: -w,
        c_hist: [w, 0.0, 0.0],
        ..Coeffs::default()
    }
}
