//! The activations the device runs as 256-entry lookup tables: any element-wise function of
//! one tensor, named when it is a common one.

use super::elementwise::{Expr, gelu, gelu_tanh};
use edgediff_runtime::kernels::quant::QParams;
use std::fmt;
use std::sync::Arc;

/// An element-wise function of one tensor.
#[derive(Clone, PartialEq)]
pub enum Activation {
    /// `x * sigmoid(x)`.
    Silu,
    /// `x * Phi(x)` with the exact normal CDF (ONNX Gelu's default).
    Gelu,
    /// GELU with the tanh approximation.
    GeluTanh,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `max(x, 0)`.
    Relu,
    /// Any other chain of element-wise ONNX ops, as read from the graph.
    Expr(Arc<Expr>),
}

impl fmt::Debug for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activation::Silu => write!(f, "Silu"),
            Activation::Gelu => write!(f, "Gelu"),
            Activation::GeluTanh => write!(f, "GeluTanh"),
            Activation::Sigmoid => write!(f, "Sigmoid"),
            Activation::Relu => write!(f, "Relu"),
            Activation::Expr(e) => write!(f, "{}", e.describe()),
        }
    }
}

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

impl Activation {
    /// The named activations, in the order [`Activation::of`] tries them.
    pub const NAMED: [Activation; 5] = [
        Activation::Silu,
        Activation::Gelu,
        Activation::GeluTanh,
        Activation::Sigmoid,
        Activation::Relu,
    ];

    /// The named activation `e` computes, or `e` itself.
    pub fn of(e: Expr) -> Self {
        Self::NAMED
            .into_iter()
            .find(|a| e.same_as(|x| a.apply(x)))
            .unwrap_or_else(|| Activation::Expr(Arc::new(e)))
    }

    /// The function, in `f64`.
    pub fn apply(&self, x: f64) -> f64 {
        match self {
            Activation::Silu => x * sigmoid(x),
            Activation::Gelu => gelu(x),
            Activation::GeluTanh => gelu_tanh(x),
            Activation::Sigmoid => sigmoid(x),
            Activation::Relu => x.max(0.0),
            Activation::Expr(e) => e.apply(x),
        }
    }

    /// The lookup table from input quantization `qx` to output `qy`:
    /// `table[q + 128] = Q_y(f(DQ_x(q)))`.
    pub fn table(&self, qx: QParams, qy: QParams) -> [i8; 256] {
        let mut t = [0i8; 256];
        for (i, v) in t.iter_mut().enumerate() {
            let q = (i as i32 - 128) as i8;
            *v = qy.quantize(self.apply(qx.dequantize(q) as f64) as f32);
        }
        t
    }
}

/// The error function, by its Maclaurin series for `|x| < 3` and the asymptotic continued
/// fraction beyond (absolute error below 1e-12, far under one int8 step).
pub fn erf(x: f64) -> f64 {
    let a = x.abs();
    let r = if a < 3.0 {
        // erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
        let mut term = a;
        let mut sum = a;
        let mut n = 0.0;
        while term.abs() > 1e-17 * sum.abs() {
            n += 1.0;
            term *= -a * a / n;
            sum += term / (2.0 * n + 1.0);
        }
        sum * std::f64::consts::FRAC_2_SQRT_PI
    } else {
        // erfc(x) = exp(-x^2) / sqrt(pi) * 1 / (x + 1/2 / (x + 1 / (x + 3/2 / (x + ...))))
        let mut frac = a;
        for k in (1..60).rev() {
            frac = a + (k as f64 / 2.0) / frac;
        }
        1.0 - (-a * a).exp() / (std::f64::consts::PI.sqrt() * frac)
    };
    r.copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_known_values() {
        for (x, want) in [
            (0.0, 0.0),
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (2.0, 0.995_322_265_018_952_7),
            (-1.5, -0.966_105_146_475_310_7),
            (3.5, 0.999_999_256_901_627_7),
        ] {
            assert!((erf(x) - want).abs() < 1e-12, "erf({x}) = {}", erf(x));
        }
    }

    #[test]
    fn tables_match_the_float_function_within_one_lsb() {
        let qx = QParams {
            scale: 0.05,
            zero_point: -10,
        };
        let qy = QParams {
            scale: 0.03,
            zero_point: -100,
        };
        for act in Activation::NAMED {
            let t = act.table(qx, qy);
            for q in -128i32..128 {
                let want = act.apply(qx.dequantize(q as i8) as f64) / qy.scale as f64
                    + qy.zero_point as f64;
                let got = t[(q + 128) as usize] as f64;
                assert!(
                    (got - want.clamp(-128.0, 127.0)).abs() <= 0.5 + 1e-9,
                    "{act:?} q={q}"
                );
            }
        }
    }
}
