//! int8 kernels.
//!
//! Quantization follows the ONNX / TFLM int8 scheme: weights symmetric per output channel
//! (zero point 0, values in [-127, 127]), activations asymmetric per tensor
//! (`real = scale * (q - zero_point)`), int32 bias with scale `s_x * s_w[c]`. Requantization is
//! `saturate(round_ties_even(acc * (s_x * s_w[c] / s_y)) + z_y)` in `f32`, as tract and
//! onnxruntime compute QLinearConv / QLinearMatMul, so results agree bit for bit.
//!
//! [`reference`] holds the portable kernels, the oracle every kernel in [`optimized`] is
//! tested against bit for bit; the engine runs the optimized ones. Tensors are one sample in `[C, H, W]` order; shapes are validated by the caller
//! (the pack reader) before a kernel runs.

pub mod optimized;
pub mod quant;
pub mod reference;
