//! DPM-Solver++ (Lu et al. 2022), multistep, data prediction, orders 1, 2 (2M, midpoint) and 3
//! (3M), and its SDE variant (orders 1 and 2), as in diffusers' `DPMSolverMultistepScheduler`
//! with `algorithm_type = "dpmsolver++"` or `"sde-dpmsolver++"`.
//!
//! With `lambda = ln(alpha / sigma)`, `h = lambda_t - lambda_s0` and `D0 = m0` (the current
//! data prediction), `D1`, `D2` the divided differences of the earlier ones `m1`, `m2`:
//! - ODE: `x_t = (sigma_t / sigma_s0) x - alpha_t (e^-h - 1) D0` (first order), minus
//!   `0.5 alpha_t (e^-h - 1) D1` (2M, `D1 = (m0 - m1) / r0`, `r0 = h_prev / h`), or plus
//!   `alpha_t ((e^-h - 1) / h + 1) D1 - alpha_t (((e^-h - 1) + h) / h^2 - 0.5) D2` (3M);
//! - SDE: `x_t = (sigma_t / sigma_s0) e^-h x + alpha_t (1 - e^-2h) (D0 + 0.5 D1)
//!   + sigma_t sqrt(1 - e^-2h) z`.
//!
//! The order ramps up over the first steps (there is no earlier prediction yet) and drops at
//! the end as diffusers' `lower_order_final` says: the last step is first order when it ends at
//! `sigma = 0` (where `e^-h = 0` is used directly, with no `log(0)`) or when there are fewer
//! than 15 steps; with fewer than 15 steps the step before it is at most second order.

use super::plan::{Coeffs, Level};

/// The solver's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Solver {
    /// 1, 2 or 3 (the SDE variant: 1 or 2).
    pub order: u8,
    /// diffusers' `lower_order_final`.
    pub lower_order_final: bool,
    /// The last step ends at `sigma = 0` (it returns the data prediction).
    pub ends_at_zero: bool,
    /// The SDE variant (`sde-dpmsolver++`): fresh noise at every step.
    pub sde: bool,
}

pub(super) fn lambda(l: Level) -> f64 {
    (l.alpha() / l.sigma()).ln()
}

impl Solver {
    /// The order used at step `i` of `steps`.
    pub fn order_at(&self, i: usize, steps: usize) -> u8 {
        let last = i + 1 == steps;
        let few = self.lower_order_final && steps < 15;
        if self.order == 1 || i == 0 || (last && (few || self.ends_at_zero)) {
            1
        } else if self.order == 2 || i == 1 || (i + 2 == steps && few) {
            2
        } else {
            3
        }
    }

    /// Coefficients of step `i` of `levels` (`levels[i]` to `levels[i + 1]`; the last entry
    /// is the end point).
    pub fn coeffs(&self, levels: &[Level], i: usize) -> Coeffs {
        let steps = levels.len() - 1;
        let (s0, t) = (levels[i], levels[i + 1]);
        if i + 1 == steps && self.ends_at_zero {
            // sigma_t = 0, alpha_t = 1: the step returns D0.
            return Coeffs {
                c_x0: t.alpha(),
                ..Coeffs::default()
            };
        }
        let h = lambda(t) - lambda(s0);
        let ratio = t.sigma() / s0.sigma();
        let (c_xt, base, noise) = if self.sde {
            let one_minus = -(-2.0 * h).exp_m1();
            (
                ratio * (-h).exp(),
                t.alpha() * one_minus,
                t.sigma() * one_minus.max(0.0).sqrt(),
            )
        } else {
            (ratio, -t.alpha() * (-h).exp_m1(), 0.0)
        };
        let mut c = Coeffs {
            c_xt,
            c_x0: base,
            noise,
            ..Coeffs::default()
        };
        match self.order_at(i, steps) {
            1 => {}
            2 => {
                // D1 = (m0 - m1) / r0, weighted 0.5 (midpoint) on top of D0.
                let r0 = (lambda(s0) - lambda(levels[i - 1])) / h;
                c.c_x0 = base * (1.0 + 0.5 / r0);
                c.c_hist[0] = -base * 0.5 / r0;
            }
            _ => {
                let (s1, s2) = (levels[i - 1], levels[i - 2]);
                let r0 = (lambda(s0) - lambda(s1)) / h;
                let r1 = (lambda(s1) - lambda(s2)) / h;
                let phi = (-h).exp_m1();
                let w1 = t.alpha() * (phi / h + 1.0);
                let w2 = -t.alpha() * ((phi + h) / (h * h) - 0.5);
                // D1_0 = (m0 - m1) / r0 and E = D1_0 - D1_1 as weights of [m0, m1, m2];
                // D1 = D1_0 + r0 / (r0 + r1) E, D2 = E / (r0 + r1).
                let d10 = [1.0 / r0, -1.0 / r0, 0.0];
                let e = [1.0 / r0, -(1.0 / r0 + 1.0 / r1), 1.0 / r1];
                let k = r0 / (r0 + r1);
                let w = |j: usize| w1 * (d10[j] + k * e[j]) + w2 * e[j] / (r0 + r1);
                c.c_x0 += w(0);
                c.c_hist[0] = w(1);
                c.c_hist[1] = w(2);
            }
        }
        c
    }
}
