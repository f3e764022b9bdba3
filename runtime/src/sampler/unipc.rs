//! UniPC (Zhao et al. 2023), `bh2`, data prediction, orders 1 to 3, with its corrector, as in
//! diffusers' `UniPCMultistepScheduler`.
//!
//! A step of diffusers' UniPC first corrects the sample it is at (UniC: the new data prediction
//! `m_i` refines the previous predictor step), then predicts the next one (UniP). Both are
//! linear in the earlier sample and the data predictions, and the correction `x_i^c - x_i`
//! involves only data predictions: the two predictors from `x_{i-1}^c` share everything but
//! their `D1` weights. So one row does both: `x_{i+1} = c_xt x_i + c_x0 m_i + c_hist m_{i-1} +
//! c_hist2 m_{i-2} + c_hist3 m_{i-3}`, with the network still evaluated at the uncorrected `x_i`,
//! as in diffusers.
//!
//! With `lambda = ln(alpha / sigma)`, `h = lambda_t - lambda_s0`, `B(h) = e^-h - 1` (`bh2`),
//! `r_k = (lambda_{s_k} - lambda_s0) / h` and `D1_k = (m_{s_k} - m0) / r_k`:
//! - UniP of order `p`: `x_t = (sigma_t / sigma_s0) x - alpha_t (e^-h - 1) m0 - alpha_t B(h)
//!   sum_k rho_p[k] D1_k`, `rho_p` solving the first `p - 1` order conditions (0.5 for `p = 2`);
//! - UniC: the same with `rho_c` solving all `p` conditions, plus the term `rho_c[p] (m_t - m0)`.

use super::dpm_solver::lambda;
use super::plan::{Coeffs, Level};

/// The solver's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Solver {
    /// 1, 2 or 3.
    pub order: u8,
    /// diffusers' `lower_order_final`: the order drops to the steps left.
    pub lower_order_final: bool,
}

/// Coefficients of one multistep update from level `s0` to `t` over data predictions
/// `[m0, m_1, ...]`: the weights of `x` and of each prediction.
struct Update {
    c_xt: f64,
    m: [f64; 4],
}

impl Solver {
    /// The predictor order at step `i` of `steps`.
    fn order_at(&self, i: usize, steps: usize) -> usize {
        let order = usize::from(self.order);
        let capped = if self.lower_order_final {
            order.min(steps - i)
        } else {
            order
        };
        capped.min(i + 1)
    }

    /// Coefficients of step `i` of `levels` (`levels[i]` to `levels[i + 1]`; the last entry
    /// is the end point): the corrector at `levels[i]` (from step `i - 1`), then the predictor.
    pub fn coeffs(&self, levels: &[Level], i: usize) -> Coeffs {
        let steps = levels.len() - 1;
        let p = self.order_at(i, steps);
        let pred = step(levels, i, p, false);
        // x_{i+1} = c_xt (x_i + delta_i) + pred.m . [m_i, m_{i-1}, ...]
        let mut m = pred.m;
        if i > 0 {
            let prev = self.order_at(i - 1, steps);
            let predicted = step(levels, i - 1, prev, false);
            let corrected = step(levels, i - 1, prev, true);
            // delta_i = corrected - predicted over [m_i, m_{i-1}, ...] (the corrector's extra
            // term weighs m_i; its other weights are over [m_{i-1}, m_{i-2}, ...]).
            for (k, mk) in m.iter_mut().enumerate() {
                let before = if k > 0 { predicted.m[k - 1] } else { 0.0 };
                *mk += pred.c_xt * (corrected.m[k] - before);
            }
        }
        Coeffs {
            c_xt: pred.c_xt,
            c_x0: m[0],
            c_hist: [m[1], m[2], m[3]],
            ..Coeffs::default()
        }
    }
}

/// One UniP (or, with `corrector`, UniC) update of order `p` from `levels[i]` to
/// `levels[i + 1]`. The predictor's weights are over `[m_i, m_{i-1}, ...]`; the corrector's
/// over `[m_{i+1}, m_i, m_{i-1}, ...]` (it also weighs the prediction at the new level).
fn step(levels: &[Level], i: usize, p: usize, corrector: bool) -> Update {
    let (s0, t) = (levels[i], levels[i + 1]);
    let h = lambda(t) - lambda(s0);
    let hh = -h;
    let phi1 = hh.exp_m1();
    let b_h = hh.exp_m1();
    // r_k for k = 1..p-1 (earlier levels), then 1.
    let mut rks = [1.0f64; 3];
    for (k, r) in rks.iter_mut().enumerate().take(p - 1) {
        *r = (lambda(levels[i - 1 - k]) - lambda(s0)) / h;
    }
    rks[p - 1] = 1.0;
    // Order conditions: R[a][b] = rks[b]^a, b[a] = phi_{a+1}(hh) (a+1)! / B(h).
    let mut r_mat = [[0.0f64; 3]; 3];
    let mut rhs = [0.0f64; 3];
    let mut h_phi_k = phi1 / hh - 1.0;
    let mut factorial = 1.0;
    for a in 0..p {
        for (bcol, r) in rks.iter().enumerate().take(p) {
            r_mat[a][bcol] = r.powi(a as i32);
        }
        rhs[a] = h_phi_k * factorial / b_h;
        factorial *= (a + 2) as f64;
        h_phi_k = h_phi_k / hh - 1.0 / factorial;
    }
    let rhos = if corrector {
        if p == 1 {
            [0.5, 0.0, 0.0]
        } else {
            solve(&r_mat, &rhs, p)
        }
    } else if p == 2 {
        [0.5, 0.0, 0.0]
    } else if p > 2 {
        solve(&r_mat, &rhs, p - 1)
    } else {
        [0.0; 3]
    };
    // x_t = ratio x - alpha_t phi1 m0 - alpha_t B(h) (sum_k rho[k] (m_k - m0) / r_k
    //       [+ rho[p-1] (m_t - m0) for the corrector]).
    let base = -t.alpha() * b_h;
    let mut w = [0.0f64; 4];
    let shift = usize::from(corrector);
    let m0 = shift;
    w[m0] = -t.alpha() * phi1;
    for k in 0..p - 1 {
        let c = base * rhos[k] / rks[k];
        w[m0 + k + 1] += c;
        w[m0] -= c;
    }
    if corrector {
        let c = base * rhos[p - 1];
        w[0] += c;
        w[m0] -= c;
    }
    Update {
        c_xt: t.sigma() / s0.sigma(),
        m: w,
    }
}

/// Solves the leading `n x n` system of `a x = b` by Gaussian elimination with partial
/// pivoting (`n <= 3`).
fn solve(a: &[[f64; 3]; 3], b: &[f64; 3], n: usize) -> [f64; 3] {
    let (mut a, mut b) = (*a, *b);
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))
            .unwrap_or(col);
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (pivot_row, pivot_b) = (a[col], b[col]);
        for row in col + 1..n {
            let f = a[row][col] / pivot_row[col];
            for (x, p) in a[row].iter_mut().zip(pivot_row).skip(col).take(n - col) {
                *x -= f * p;
            }
            b[row] -= f * pivot_b;
        }
    }
    let mut x = [0.0f64; 3];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    x
}
