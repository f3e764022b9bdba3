//! Ancestral DDPM (Ho et al. 2020), with steps taken between consecutive listed timesteps.
//!
//! With `alpha'_t = abar_t / abar_prev` and `beta'_t = 1 - alpha'_t`, the posterior mean is
//! `sqrt(abar_prev) beta'_t / (1 - abar_t) x0 + sqrt(alpha'_t) (1 - abar_prev) / (1 - abar_t) x_t`.

use super::plan::{Coeffs, DdpmVariance, Level};

/// Variance of the reverse step from `cur` to `prev` (diffusers' `_get_variance`).
pub fn variance(cur: Level, prev: Level, kind: DdpmVariance) -> f64 {
    let beta = 1.0 - cur.abar / prev.abar;
    match kind {
        DdpmVariance::FixedSmall => ((1.0 - prev.abar) / (1.0 - cur.abar) * beta).max(1e-20),
        DdpmVariance::FixedLarge => beta,
    }
}

/// Coefficients of one DDPM step. The last step (to the clean sample) adds no noise.
pub fn coeffs(cur: Level, prev: Level, kind: DdpmVariance) -> Coeffs {
    let alpha_step = cur.abar / prev.abar;
    let beta = 1.0 - alpha_step;
    let one_minus = 1.0 - cur.abar;
    let noise = if prev.abar < 1.0 {
        variance(cur, prev, kind).sqrt()
    } else {
        0.0
    };
    Coeffs {
        c_xt: alpha_step.sqrt() * (1.0 - prev.abar) / one_minus,
        c_x0: prev.alpha() * beta / one_minus,
        noise,
        ..Coeffs::default()
    }
}
