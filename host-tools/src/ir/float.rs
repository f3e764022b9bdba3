//! The float network as the quantizer sees it: the sample path as a list of ops over
//! `[c, h, w]` tensors of one sample, with the timestep and class paths already evaluated into
//! per-step and per-class tables.

use super::{Activation, Movement};
use edgediff_runtime::kernels::reference::{ConvSpec, MatMulGeometry};
use edgediff_runtime::pack::layout::EmbedIndex;
use edgediff_runtime::prediction::PredictionType;

/// A float tensor of one sample.
#[derive(Clone, Debug, PartialEq)]
pub struct FTensor {
    /// Name in the source graph.
    pub name: String,
    /// `[c, h, w]`.
    pub shape: [usize; 3],
}

impl FTensor {
    /// Elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One float op; tensor fields index [`FloatGraph::tensors`].
#[derive(Clone, Debug, PartialEq)]
pub enum FOp {
    /// Conv2d or Linear (1x1 on `[k, 1, 1]`); weights `[out_c, in_c, k_h, k_w]`.
    Conv {
        /// Node name in the source graph.
        name: String,
        /// Input.
        input: usize,
        /// Output.
        output: usize,
        /// Weights.
        weights: Vec<f32>,
        /// Bias per output channel.
        bias: Vec<f32>,
        /// Kernel, stride, padding, dilation, groups; a transposed conv is held as the
        /// equivalent conv of the stuffed input (flipped weights, [`ConvSpec::stuffed`]).
        spec: ConvSpec,
        /// A ReLU fused into the output (the device clamps at the output zero point).
        relu: bool,
    },
    /// Element-wise add, `b` same shape or `[c, 1, 1]`.
    Add {
        /// First input.
        a: usize,
        /// Second input.
        b: usize,
        /// Output.
        output: usize,
    },
    /// Element-wise product of two activations, `b` same shape or `[c, 1, 1]`.
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
    /// Activation.
    Act {
        /// Input.
        input: usize,
        /// Output.
        output: usize,
        /// Which.
        act: Activation,
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
        /// Epsilon.
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
    /// Transpose, Reshape (copy) or a one-axis slice.
    Move {
        /// Input.
        input: usize,
        /// Output.
        output: usize,
        /// What it does.
        how: Movement,
    },
    /// Product of two activations `[b, m, k] x [b, k, n]` (attention).
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
    /// Softmax over the last axis, rows of `n`.
    Softmax {
        /// Input.
        input: usize,
        /// Output.
        output: usize,
        /// Length of the axis.
        n: usize,
    },
    /// A table of the timestep and label paths, evaluated for each sampling step and/or
    /// label; the last label row is the null label.
    Embed {
        /// Output.
        output: usize,
        /// `by.rows(steps, classes) x len`.
        table: Vec<f32>,
        /// What selects the row.
        by: EmbedIndex,
    },
}

impl FOp {
    /// Tensors the op reads.
    pub fn inputs(&self) -> Vec<usize> {
        match self {
            FOp::Conv { input, .. }
            | FOp::Upsample { input, .. }
            | FOp::Act { input, .. }
            | FOp::GroupNorm { input, .. }
            | FOp::Move { input, .. }
            | FOp::LayerNorm { input, .. }
            | FOp::Softmax { input, .. } => vec![*input],
            FOp::Add { a, b, .. }
            | FOp::Mul { a, b, .. }
            | FOp::Concat { a, b, .. }
            | FOp::MatMul { a, b, .. } => {
                vec![*a, *b]
            }
            FOp::Embed { .. } => vec![],
        }
    }

    /// The tensor the op writes.
    pub fn output(&self) -> usize {
        match self {
            FOp::Conv { output, .. }
            | FOp::Add { output, .. }
            | FOp::Mul { output, .. }
            | FOp::Concat { output, .. }
            | FOp::Upsample { output, .. }
            | FOp::Act { output, .. }
            | FOp::GroupNorm { output, .. }
            | FOp::Move { output, .. }
            | FOp::LayerNorm { output, .. }
            | FOp::MatMul { output, .. }
            | FOp::Softmax { output, .. }
            | FOp::Embed { output, .. } => *output,
        }
    }
}

/// The sample path of a float network, for one sampling plan.
#[derive(Clone, Debug, PartialEq)]
pub struct FloatGraph {
    /// `[c, h, w]` of one sample.
    pub sample_shape: [usize; 3],
    /// What the network predicts.
    pub prediction: PredictionType,
    /// Classes (0: unconditional).
    pub num_classes: u16,
    /// Tensors.
    pub tensors: Vec<FTensor>,
    /// Ops in execution order.
    pub ops: Vec<FOp>,
    /// Input tensor.
    pub input: usize,
    /// Output tensor.
    pub output: usize,
}
