//! DPM-Solver++ (Lu et al. 2022), orders 1 and 2 (2M), data prediction, midpoint solver type,
//! as in diffusers' `DPMSolverMultistepScheduler` with `algorithm_type = "dpmsolver++"`.
//!
//! With `lambda = ln(alpha / sigma)` and `h = lambda_t - lambda_s0`:
//! - first order: `x_t = (sigma_t / sigma_s0) x - alpha_t (e^-h - 1) D0`;
//! - second order adds `-0.5 alpha_t (e^-h - 1) D1`, `D1 = (m0 - m1) / r0`, `r0 = h_prev / h`.
//!
//! Order 1 is first order everywhere. At order 2 the first step is first order; so is the last
//! when it ends at `sigma = 0` (where `e^-h = 0` is used directly, with no `log(0)`) or when
//! `lower_order_final` is set and there are fewer than 15 steps.

use super::plan::{Coeffs, Level};

/// How the last step is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FinalStep {
    /// First order at the last step when there are fewer than 15 steps.
    pub lower_order: bool,
    /// The last step ends at `sigma = 0` (it returns the data prediction).
    pub at_zero: bool,
}

fn lambda(l: Level) -> f64 {
    (l.alpha() / l.sigma()).ln()
}

/// Coefficients of step `i` of `levels` (`levels[i]` to `levels[i + 1]`; the last entry is the
/// end point) at solver `order` (1 or 2).
pub fn coeffs(levels: &[Level], i: usize, order: u8, final_step: FinalStep) -> Coeffs {
    let steps = levels.len() - 1;
    let (s0, t) = (levels[i], levels[i + 1]);
    let last = i + 1 == steps;
    if last && final_step.at_zero {
        // sigma_t = 0, alpha_t = 1: the step returns D0.
        return Coeffs {
            c_x0: t.alpha(),
            ..Coeffs::default()
        };
    }
    let h = lambda(t) - lambda(s0);
    let c_xt = t.sigma() / s0.sigma();
    let base = -t.alpha() * (-h).exp_m1();
    let first_order = order < 2 || i == 0 || (last && final_step.lower_order && steps < 15);
    if first_order {
        return Coeffs {
            c_xt,
            c_x0: base,
            ..Coeffs::default()
        };
    }
    let r0 = (lambda(s0) - lambda(levels[i - 1])) / h;
    Coeffs {
        c_xt,
        c_x0: base * (1.0 + 0.5 / r0),
        c_hist: [-base * 0.5 / r0, 0.0, 0.0],
        ..Coeffs::default()
    }
}
