//! Euler and Euler ancestral (Karras et al. 2022), written in the sampler's
//! variance-preserving coordinates.
//!
//! With `s = sigma / alpha` (the variance-exploding noise level), diffusers' Euler step is
//! `x' = x + (s_prev - s) (x - x0) / s` on `x / alpha`. Mapped back to `x_t`, deterministic Euler
//! has the same coefficients as DDIM with `eta = 0` (a known identity). Ancestral Euler steps to
//! `s_down` and adds `s_up` noise with `s_up^2 = s_prev^2 (s^2 - s_prev^2) / s^2`,
//! `s_down^2 = s_prev^2 - s_up^2`.

use super::plan::{Coeffs, Level};

/// Coefficients of one Euler step; `ancestral` adds fresh noise.
pub fn coeffs(cur: Level, prev: Level, ancestral: bool) -> Coeffs {
    let s = cur.sigma() / cur.alpha();
    let s_prev = prev.sigma() / prev.alpha();
    let (s_down, s_up) = if ancestral {
        let up = (s_prev * s_prev * (s * s - s_prev * s_prev) / (s * s))
            .max(0.0)
            .sqrt();
        ((s_prev * s_prev - up * up).max(0.0).sqrt(), up)
    } else {
        (s_prev, 0.0)
    };
    let ratio = s_down / s;
    Coeffs {
        c_xt: prev.alpha() / cur.alpha() * ratio,
        c_x0: prev.alpha() * (1.0 - ratio),
        noise: prev.alpha() * s_up,
        ..Coeffs::default()
    }
}
