//! The quantized network in memory.

use super::Movement;
use edgediff_runtime::kernels::quant::QParams;
use edgediff_runtime::kernels::reference::{ConvGeometry, ConvSpec, MatMulGeometry};
use edgediff_runtime::pack::layout::{EmbedIndex, OpKind};
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
        /// Kernel, stride, padding, dilation, groups; a transposed conv is held as the
        /// equivalent conv of the stuffed input (flipped weights, [`ConvSpec::stuffed`]).
        spec: ConvSpec,
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
    /// `output = Q(DQ(a) * DQ(b))`, `b` same shape or `[c, 1, 1]`.
    Mul {
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
        /// Factors `[height, width]`.
        factor: [usize; 2],
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
    /// LayerNorm (or RMSNorm, without `center`) over the last axis of `n` values.
    LayerNorm {
        /// Input.
        input: usize,
        /// Output.
        output: usize,
        /// Length of the axis.
        n: usize,
        /// Scale per position of the axis.
        gamma: Vec<f32>,
        /// Shift per position of the axis.
        beta: Vec<f32>,
        /// Epsilon.
        eps: f32,
        /// Subtract the mean (false: RMSNorm).
        center: bool,
    },
    /// Transpose, Reshape (copy) or a one-axis slice; the output keeps the input's
    /// quantization.
    Move {
        /// Input.
        input: usize,
        /// Output.
        output: usize,
        /// What it does.
        how: Movement,
    },
    /// `output = Q(DQ(a) DQ(b))`, `[b, m, k] x [b, k, n]`.
    MatMul {
        /// Left operand.
        a: usize,
        /// Right operand.
        b: usize,
        /// Output.
        output: usize,
        /// Sizes.
        geometry: MatMulGeometry,
    },
    /// Integer softmax over the last axis (rows of `n`); the output is quantized with
    /// `softmax::OUTPUT`.
    Softmax {
        /// Input (one quantization for every step).
        input: usize,
        /// Output.
        output: usize,
        /// Length of the axis.
        n: usize,
        /// `T[d] = round(2^15 exp(-s_x d))`.
        table: Box<[u16; 256]>,
    },
    /// Precomputed timestep / label path (time embedding and time-MLP output, class
    /// embedding); the last label row is the null label.
    Embed {
        /// Output.
        output: usize,
        /// `by.rows(steps, classes) x len` int8 values.
        table: Vec<i8>,
        /// What selects the row.
        by: EmbedIndex,
    },
}

impl QOp {
    /// Tensors the op reads.
    pub fn inputs(&self) -> Vec<usize> {
        match self {
            QOp::Conv { input, .. }
            | QOp::Upsample { input, .. }
            | QOp::Lut { input, .. }
            | QOp::GroupNorm { input, .. }
            | QOp::Move { input, .. }
            | QOp::LayerNorm { input, .. }
            | QOp::Softmax { input, .. } => vec![*input],
            QOp::Add { a, b, .. }
            | QOp::Mul { a, b, .. }
            | QOp::Concat { a, b, .. }
            | QOp::MatMul { a, b, .. } => {
                vec![*a, *b]
            }
            QOp::Embed { .. } => vec![],
        }
    }

    /// The tensor the op writes.
    pub fn output(&self) -> usize {
        match self {
            QOp::Conv { output, .. }
            | QOp::Add { output, .. }
            | QOp::Mul { output, .. }
            | QOp::Concat { output, .. }
            | QOp::Upsample { output, .. }
            | QOp::Lut { output, .. }
            | QOp::GroupNorm { output, .. }
            | QOp::Move { output, .. }
            | QOp::LayerNorm { output, .. }
            | QOp::MatMul { output, .. }
            | QOp::Softmax { output, .. }
            | QOp::Embed { output, .. } => *output,
        }
    }

    /// The pack op kind this op compiles to.
    pub fn kind(&self) -> OpKind {
        match self {
            QOp::Conv { spec, .. } if spec.up > 1 => OpKind::ConvTranspose,
            QOp::Conv { .. } => OpKind::Conv,
            QOp::Add { .. } => OpKind::Add,
            QOp::Mul { .. } => OpKind::Mul,
            QOp::Concat { .. } => OpKind::Concat,
            QOp::Upsample { .. } => OpKind::Upsample,
            QOp::Lut { .. } => OpKind::Lut,
            QOp::GroupNorm { .. } => OpKind::GroupNorm,
            QOp::Move { how, .. } => how.kind(),
            QOp::MatMul { .. } => OpKind::MatMul,
            QOp::Softmax { .. } => OpKind::Softmax,
            QOp::LayerNorm { .. } => OpKind::LayerNorm,
            QOp::Embed { by, .. } => by.op_kind(),
        }
    }

    /// Short name for reports (the pack op kind's).
    pub fn name(&self) -> &'static str {
        self.kind().name()
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
            spec,
            ..
        } = op
        else {
            return None;
        };
        let (x, y) = (self.tensors.get(*input)?, self.tensors.get(*output)?);
        Some(spec.on(x.shape, y.shape[0]))
    }

    /// Multiply-accumulates of one evaluation.
    pub fn macs(&self) -> usize {
        self.ops
            .iter()
            .map(|op| match op {
                QOp::MatMul { geometry: g, .. } => g.batch * g.m * g.k * g.n,
                _ => self.conv_geometry(op).map_or(0, |g| g.macs()),
            })
            .sum()
    }

    /// Weight parameters (conv weights and biases).
    pub fn params(&self) -> usize {
        self.ops
            .iter()
            .map(|op| match op {
                QOp::Conv { weights, bias, .. } => weights.len() + bias.len(),
                QOp::GroupNorm { gamma, beta, .. } | QOp::LayerNorm { gamma, beta, .. } => {
                    gamma.len() + beta.len()
                }
                _ => 0,
            })
            .sum()
    }
}
