//! Element-wise functions of one tensor, read from the ONNX nodes that compute them.
//!
//! Exporters spell one activation in many ways: GELU is `Gelu`, or `Div -> Erf -> Add ->
//! Mul -> Mul` in either operand order, or `Pow -> Mul -> Add -> Mul -> Tanh -> Add -> Mul
//! -> Mul` for its tanh form; SiLU is `Sigmoid * x`. Every such chain is a function of one
//! input value, so the importer records the chain as an [`Expr`] and the device runs it as a
//! 256-entry lookup table, whatever the spelling. [`super::Activation::of`] names the common
//! functions for reports.

use super::activation::erf;

/// A one-argument function of the ONNX op that computes it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unary {
    /// `-x`.
    Neg,
    /// `|x|`.
    Abs,
    /// `e^x`.
    Exp,
    /// `ln x`.
    Log,
    /// `sqrt x`.
    Sqrt,
    /// `1 / x`.
    Reciprocal,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `tanh x`.
    Tanh,
    /// The error function.
    Erf,
    /// `max(x, 0)`.
    Relu,
    /// `x` if positive, else `alpha x`.
    LeakyRelu(f64),
    /// `x` if positive, else `alpha (e^x - 1)`.
    Elu(f64),
    /// `ln(1 + e^x)`.
    Softplus,
    /// `x / (1 + |x|)`.
    Softsign,
    /// `max(0, min(1, alpha x + beta))`.
    HardSigmoid(f64, f64),
    /// `x * HardSigmoid(1/6, 1/2)(x)`.
    HardSwish,
    /// `x tanh(softplus(x))`.
    Mish,
    /// `sin x`.
    Sin,
    /// `cos x`.
    Cos,
    /// `min(max(x, lo), hi)`.
    Clip(f64, f64),
    /// `x Phi(x)`, exact (`false`) or with the tanh approximation (`true`).
    Gelu(bool),
}

/// A two-argument function.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Binary {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a * b`.
    Mul,
    /// `a / b`.
    Div,
    /// `a ^ b`.
    Pow,
    /// `max(a, b)`.
    Max,
    /// `min(a, b)`.
    Min,
}

/// One step of an [`Expr`]; operands index earlier steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Step {
    /// The input value.
    Input,
    /// A constant.
    Const(f64),
    /// A unary function of an earlier step.
    Unary(Unary, usize),
    /// A binary function of two earlier steps.
    Binary(Binary, usize, usize),
}

/// A function of one value as a list of steps; the last step is the result.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// Steps in evaluation order.
    pub steps: Vec<Step>,
}

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

fn softplus(v: f64) -> f64 {
    if v > 30.0 { v } else { v.exp().ln_1p() }
}

/// `x Phi(x)` with the exact normal CDF.
pub fn gelu(x: f64) -> f64 {
    0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2))
}

/// `x Phi(x)` with the tanh approximation (PyTorch's `approximate="tanh"`).
pub fn gelu_tanh(x: f64) -> f64 {
    let c = (2.0 / std::f64::consts::PI).sqrt();
    0.5 * x * (1.0 + (c * (x + 0.044_715 * x * x * x)).tanh())
}

impl Unary {
    /// The function, in `f64`.
    pub fn apply(self, x: f64) -> f64 {
        match self {
            Unary::Neg => -x,
            Unary::Abs => x.abs(),
            Unary::Exp => x.exp(),
            Unary::Log => x.ln(),
            Unary::Sqrt => x.sqrt(),
            Unary::Reciprocal => 1.0 / x,
            Unary::Sigmoid => sigmoid(x),
            Unary::Tanh => x.tanh(),
            Unary::Erf => erf(x),
            Unary::Relu => x.max(0.0),
            Unary::LeakyRelu(a) => {
                if x >= 0.0 {
                    x
                } else {
                    a * x
                }
            }
            Unary::Elu(a) => {
                if x >= 0.0 {
                    x
                } else {
                    a * x.exp_m1()
                }
            }
            Unary::Softplus => softplus(x),
            Unary::Softsign => x / (1.0 + x.abs()),
            Unary::HardSigmoid(a, b) => (a * x + b).clamp(0.0, 1.0),
            Unary::HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
            Unary::Mish => x * softplus(x).tanh(),
            Unary::Sin => x.sin(),
            Unary::Cos => x.cos(),
            Unary::Clip(lo, hi) => x.max(lo).min(hi),
            Unary::Gelu(false) => gelu(x),
            Unary::Gelu(true) => gelu_tanh(x),
        }
    }
}

impl Binary {
    /// The function, in `f64`.
    pub fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            Binary::Add => a + b,
            Binary::Sub => a - b,
            Binary::Mul => a * b,
            Binary::Div => a / b,
            Binary::Pow => {
                if b.fract() == 0.0 && b.abs() <= 64.0 {
                    a.powi(b as i32)
                } else {
                    a.powf(b)
                }
            }
            Binary::Max => a.max(b),
            Binary::Min => a.min(b),
        }
    }
}

impl Expr {
    /// The function at `x`, in `f64`.
    pub fn apply(&self, x: f64) -> f64 {
        let mut v: Vec<f64> = Vec::with_capacity(self.steps.len());
        for s in &self.steps {
            let at = |i: usize| v.get(i).copied().unwrap_or(f64::NAN);
            let r = match *s {
                Step::Input => x,
                Step::Const(c) => c,
                Step::Unary(u, a) => u.apply(at(a)),
                Step::Binary(b, p, q) => b.apply(at(p), at(q)),
            };
            v.push(r);
        }
        v.last().copied().unwrap_or(x)
    }

    /// The ONNX-like spelling, for reports: `Mul(x, Sigmoid(x))`.
    pub fn describe(&self) -> String {
        fn go(steps: &[Step], i: usize) -> String {
            match steps.get(i) {
                Some(Step::Input) => "x".into(),
                Some(Step::Const(c)) => format!("{c}"),
                Some(Step::Unary(u, a)) => format!("{u:?}({})", go(steps, *a)),
                Some(Step::Binary(b, p, q)) => {
                    format!("{b:?}({}, {})", go(steps, *p), go(steps, *q))
                }
                None => "?".into(),
            }
        }
        go(&self.steps, self.steps.len().saturating_sub(1))
    }

    /// Whether `f` computes the same function on `[-12, 12]` (relative to its magnitude,
    /// 1e-6: far below one int8 step of any table).
    pub fn same_as(&self, f: impl Fn(f64) -> f64) -> bool {
        (-1200..=1200).all(|k| {
            let x = f64::from(k) / 100.0;
            let (a, b) = (self.apply(x), f(x));
            (a - b).abs() <= 1e-6 * (1.0 + b.abs())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_gelu_spellings_of_the_exporters_are_gelu() {
        // TorchScript: Mul(Mul(x, Add(Erf(Div(x, sqrt 2)), 1)), 0.5)
        let ts = Expr {
            steps: vec![
                Step::Input,
                Step::Const(std::f64::consts::SQRT_2),
                Step::Binary(Binary::Div, 0, 1),
                Step::Unary(Unary::Erf, 2),
                Step::Const(1.0),
                Step::Binary(Binary::Add, 3, 4),
                Step::Binary(Binary::Mul, 0, 5),
                Step::Const(0.5),
                Step::Binary(Binary::Mul, 6, 7),
            ],
        };
        assert!(ts.same_as(gelu));
        assert!(!ts.same_as(gelu_tanh));
        // tanh form: 0.5 x (1 + tanh(c (x + 0.044715 x^3)))
        let c = (2.0 / std::f64::consts::PI).sqrt();
        let tanh = Expr {
            steps: vec![
                Step::Input,
                Step::Const(3.0),
                Step::Binary(Binary::Pow, 0, 1),
                Step::Const(0.044_715),
                Step::Binary(Binary::Mul, 3, 2),
                Step::Binary(Binary::Add, 0, 4),
                Step::Const(c),
                Step::Binary(Binary::Mul, 6, 5),
                Step::Unary(Unary::Tanh, 7),
                Step::Const(1.0),
                Step::Binary(Binary::Add, 8, 9),
                Step::Const(0.5),
                Step::Binary(Binary::Mul, 11, 10),
                Step::Binary(Binary::Mul, 0, 12),
            ],
        };
        assert!(tanh.same_as(gelu_tanh));
        assert!(!tanh.same_as(gelu));
        assert_eq!(
            tanh.describe(),
            format!("Mul(x, Mul(0.5, Add(Tanh(Mul({c}, Add(x, Mul(0.044715, Pow(x, 3))))), 1)))")
        );
    }
}
