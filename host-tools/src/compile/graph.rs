//! The quantized network in memory.

use edgediff_runtime::kernels::quant::QParams;
use edgediff_runtime::kernels::reference::ConvGeometry;
use edgediff_runtime::prediction::PredictionType;

/// An int8 activation tensor of one sample, `[c, h, w]`.
#[derive(Clone, Debug, PartialEq)]
pub struct QTensor {
    /// Name (from the ONNX graph), for reports.
    pub name: String,
    /// `[c, h, w]`.
    pub shape: [usize; 3],
    /// Index of its quantization parameters in each row of [`QGraph::qparams`].
    pub qparam: usize,
}

impl QTensor {
    /// Elements (bytes).
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One int8 op. Tensor fields are indices into [`QGraph::tensors`].
#[derive(Clone, Debug, PartialEq)]
pub enum QOp {
    /// Conv2d or Linear (1x1 on `[k, 1, 1]`).
    Conv {
        /// Input.
        input: usize,
        /// Output.
        output: usize,
        /// `[out_c, in_c, k_h, k_w]`, symmetric, in [-127, 127].
        weights: Vec<i8>,
        /// int32 bias, scale `s_x * s_w[c]`.
        bias: Vec<i32>,
        /// Per-output-channel weight scales.
        w_scales: Vec<f32>,
        /// `[k_h, k_w]`.
        kernel: [usize; 2],
        /// Stride.
        stride: usize,
        /// Padding.
        pad: usize,
        /// Fused ReLU.
        relu: bool,
    },
    /// `output = Q(DQ(a) + DQ(b))`, `b` same shape or `[c, 1, 1]`.
    Add {
        /// First input.
        a: usize,
        /// Second input.
        b: usize,
        /// Output.
        output: usize,
    },
    /// Channel concat.
    Concat {
        /// First input.
        a: usize,
        /// Second input.
        b: usize,
        /// Output.
        output: usize,
    },
    /// Nearest upsampling.
    Upsample {
        /// Input.
        input: usize,
        /// Output.
        output: usize,
        /// Factor on both axes.
        factor: usize,
    },
    /// Lookup-table activation; one table per quantization row.
    Lut {
        /// Input.
        input: usize,
        /// Output.
        output: usize,
        /// `table[q + 128]`.
        tables: Vec<[i8; 256]>,
    },
    /// GroupNorm.
    GroupNorm {
        /// Input.
        input: usize,
        /// Output.
        output: usize,
        /// Groups.
        groups: usize,
        /// Per-channel scale.
        gamma: Vec<f32>,
        /// Per-channel shift.
        beta: Vec<f32>,
        /// Variance epsilon.
        eps: f32,
    },
    /// Precomputed per-step embedding (time embedding and time-MLP output).
    StepEmbed {
        /// Output.
        output: usize,
        /// `steps x len` int8 values.
        table: Vec<i8>,
    },
    /// Class embedding; the last row is the null label.
    ClassEmbed {
        /// Output.
        output: usize,
        /// `(classes + 1) x len` int8 values.
        table: Vec<i8>,
    },
}

impl QOp {
    /// Tensors the op reads.
    pub fn inputs(&self) -> Vec<usize> {
        match self {
            QOp::Conv { input, .. }
            | QOp::Upsample { input, .. }
            | QOp::Lut { input, .. }
            | QOp::GroupNorm { input, .. } => vec![*input],
            QOp::Add { a, b, .. } | QOp::Concat { a, b, .. } => vec![*a, *b],
            QOp::StepEmbed { .. } | QOp::ClassEmbed { .. } => vec![],
        }
    }

    /// The tensor the op writes.
    pub fn output(&self) -> usize {
        match self {
            QOp::Conv { output, .. }
            | QOp::Add { output, .. }
            | QOp::Concat { output, .. }
            | QOp::Upsample { output, .. }
            | QOp::Lut { output, .. }
            | QOp::GroupNorm { output, .. }
            | QOp::StepEmbed { output, .. }
            | QOp::ClassEmbed { output, .. } => *output,
        }
    }

    /// Short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            QOp::Conv { .. } => "Conv",
            QOp::Add { .. } => "Add",
            QOp::Concat { .. } => "Concat",
            QOp::Upsample { .. } => "Upsample",
            QOp::Lut { .. } => "Lut",
            QOp::GroupNorm { .. } => "GroupNorm",
            QOp::StepEmbed { .. } => "StepEmbed",
            QOp::ClassEmbed { .. } => "ClassEmbed",
        }
    }
}

/// A quantized network over one sample.
#[derive(Clone, Debug, PartialEq)]
pub struct QGraph {
    /// `[c, h, w]` of one sample.
    pub sample_shape: [usize; 3],
    /// What the network predicts.
    pub prediction: PredictionType,
    /// Classes (0: unconditional).
    pub num_classes: u16,
    /// Classifier-free guidance scale used at sampling (1: none).
    pub guidance: f32,
    /// Activation tensors.
    pub tensors: Vec<QTensor>,
    /// Quantization rows: one row (static) or one per sampling step, each with a set per
    /// quantization index.
    pub qparams: Vec<Vec<QParams>>,
    /// Ops in execution order.
    pub ops: Vec<QOp>,
    /// Input tensor (the quantized `x_t`).
    pub input: usize,
    /// Output tensor.
    pub output: usize,
}

impl QGraph {
    /// The conv geometry of a conv op.
    pub fn conv_geometry(&self, op: &QOp) -> Option<ConvGeometry> {
        let QOp::Conv {
            input,
            output,
            kernel,
            stride,
            pad,
            ..
        } = op
        else {
            return None;
        };
        let (x, y) = (self.tensors.get(*input)?, self.tensors.get(*output)?);
        Some(ConvGeometry::new(
            x.shape,
            y.shape[0],
            [kernel[0], kernel[1], *stride, *pad],
        ))
    }

    /// Multiply-accumulates of one evaluation.
    pub fn macs(&self) -> usize {
        self.ops
            .iter()
            .filter_map(|op| self.conv_geometry(op))
            .map(|g| g.macs())
            .sum()
    }

    /// Weight parameters (conv weights and biases).
    pub fn params(&self) -> usize {
        self.ops
            .iter()
            .map(|op| match op {
                QOp::Conv { weights, bias, .. } => weights.len() + bias.len(),
                QOp::GroupNorm { gamma, beta, .. } => gamma.len() + beta.len(),
                _ => 0,
            })
            .sum()
    }
}

/// The activations the device runs as 256-entry lookup tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `x * sigmoid(x)`.
    Silu,
    /// `x * Phi(x)` with the exact normal CDF (ONNX Gelu's default).
    Gelu,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `max(x, 0)`.
    Relu,
}

impl Activation {
    /// The function, in `f64`.
    pub fn apply(self, x: f64) -> f64 {
        let sigmoid = |v: f64| 1.0 / (1.0 + (-v).exp());
        match self {
            Activation::Silu => x * sigmoid(x),
            Activation::Gelu => 0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2)),
            Activation::Sigmoid => sigmoid(x),
            Activation::Relu => x.max(0.0),
        }
    }

    /// The lookup table from input quantization `qx` to output `qy`:
    /// `table[q + 128] = Q_y(f(DQ_x(q)))`.
    pub fn table(self, qx: QParams, qy: QParams) -> [i8; 256] {
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
        for act in [
            Activation::Silu,
            Activation::Gelu,
            Activation::Sigmoid,
            Activation::Relu,
        ] {
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
