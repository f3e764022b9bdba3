//! The quantized ONNX form, written from and read back into a [`QGraph`].
//!
//! Opset 13, batch 1, inputs `x` (f32), `step` (int64, the sampling step) and, for conditional
//! models, `label` (int64). Every activation is an int8 tensor `t{i}` of shape `[1, c, h, w]`
//! with scalar initializers `t{i}_scale` (f32) and `t{i}_zp` (int8):
//! - QuantizeLinear at the input, DequantizeLinear at the output;
//! - QLinearConv for every conv and Linear (a 1x1 conv), int8 symmetric per-channel weights,
//!   followed by DequantizeLinear -> Relu -> QuantizeLinear when a ReLU is fused into it,
//!   int32 bias — tract and onnxruntime run these as integer kernels. Its weight scales are
//!   the requantization multipliers `s_x s_w / s_y` themselves and its input and output
//!   scales 1, so every engine requantizes with the multiplier the device uses (tract folds
//!   `s_x s_w / s_y` by a division for some layers and a reciprocal for others, which moves
//!   about one output in 10^5 by one LSB). The weight scales are kept as `op{k}_w_scale` in the
//!   `edgediff.params` metadata, with everything else no node reads;
//! - DequantizeLinear -> Add / Concat / Resize -> QuantizeLinear;
//! - GroupNorm as the device computes it: integer statistics (Cast, Sub, ReduceSum, Mul in
//!   int64), then Sqrt, Div, Mul, Add in `f32` and a QuantizeLinear of scale 1;
//! - activations as their 256-entry table: `Gather(table, Cast(x, int32) + 128)`, exactly
//!   what the device computes;
//! - per-step, per-class and per-(step, class) embeddings as int8 tables gathered by `step`,
//!   `label` or `step * (classes + 1) + label`.
//!
//! Metadata records what the graph alone cannot: the timesteps the step tables were built
//! for, the prediction type, the guidance scale, and per-step activation parameters when the
//! model has them (the graph's own QuantizeLinear parameters are then the first step's).
//!
//! [`write`](write::write) and [`read`](read::read) live in their own modules; the metadata keys
//! in [`super::metadata`].

mod read;
mod write;

pub use read::read;
pub use write::{at_step, expose_tensors, interface_dims, write};

use crate::ir::QGraph;

/// A quantized model read back: the graph and the timesteps its step tables were built for.
#[derive(Clone, Debug)]
pub struct QModel {
    /// The graph.
    pub graph: QGraph,
    /// Timesteps of the step tables.
    pub timesteps: Vec<u32>,
}

/// `[c, h, w]` as the ONNX shape `[1, c, h, w]`.
pub(crate) fn dims4(shape: [usize; 3]) -> [i64; 4] {
    [1, shape[0] as i64, shape[1] as i64, shape[2] as i64]
}
