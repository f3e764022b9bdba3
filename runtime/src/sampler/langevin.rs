//! Score-based sampling with Langevin dynamics.
//!
//! A Langevin step at noise level `t` with step size `eta` is
//! `x <- x + eta grad log p_t(x) + sqrt(2 eta) z`, and by Tweedie's formula
//! `grad log p_t(x) = -eps_hat / sigma_t`. As a corrector (Song et al. 2021) it runs at every
//! level on top of any predictor; alone, annealed Langevin dynamics (Song & Ermon 2019) runs the
//! corrector at each level from high noise to low, keeps `x` between levels, and ends with one
//! Tweedie denoising step `x0_hat`.

use super::plan::{Coeffs, Level};

/// Corrector coefficients `(corr_eps, corr_noise)` at level `cur` with training beta `beta_t`
/// and target signal-to-noise ratio `snr`: step `eta = 2 (1 - beta_t) (snr sigma_t)^2`.
pub fn corrector(cur: Level, beta_t: f64, snr: f64) -> (f64, f64) {
    let sigma = cur.sigma();
    let eta = 2.0 * (1.0 - beta_t) * (snr * sigma) * (snr * sigma);
    (-eta / sigma, (2.0 * eta).sqrt())
}

/// The predictor of pure annealed Langevin: keep `x`, except at the last step, which returns
/// the denoised estimate.
pub fn predictor(last: bool) -> Coeffs {
    if last {
        Coeffs {
            c_x0: 1.0,
            ..Coeffs::default()
        }
    } else {
        Coeffs {
            c_xt: 1.0,
            ..Coeffs::default()
        }
    }
}
