//! DDIM (Song, Meng & Ermon 2021), with `t_prev` taken from the timestep list rather than a
//! fixed stride (diffusers issues #12633 and #11347 show the stride is wrong for `linspace`).
//!
//! `sigma = eta sqrt((1 - abar_prev) / (1 - abar_t)) sqrt(1 - abar_t / abar_prev)` and
//! `x_prev = sqrt(abar_prev) x0 + sqrt(1 - abar_prev - sigma^2) eps + sigma z`, where `eps` is
//! the network's own prediction (diffusers' default `use_clipped_model_output = False`).

use super::plan::{Coeffs, Level};

/// Coefficients of one DDIM step with stochasticity `eta`.
pub fn coeffs(cur: Level, prev: Level, eta: f64) -> Coeffs {
    let sigma = eta
        * ((1.0 - prev.abar) / (1.0 - cur.abar)).sqrt()
        * (1.0 - cur.abar / prev.abar).max(0.0).sqrt();
    Coeffs {
        c_x0: prev.alpha(),
        c_eps: (1.0 - prev.abar - sigma * sigma).max(0.0).sqrt(),
        noise: sigma,
        ..Coeffs::default()
    }
}
