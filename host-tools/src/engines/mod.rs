//! The engines that evaluate a network on the desktop, each a [`edgediff_runtime::Denoiser`]:
//! - `runtime`: the model pack through the no_std runtime's int8 engine;
//! - `tract`: the int8 ONNX through tract-onnx (integer QLinearConv kernels);
//! - `tract-float`: the float ONNX through tract.
//!
//! The sampler and its seeded noise are the same for all three, so their samples differ only
//! by the network arithmetic.

pub mod tract;

pub use tract::{TractDenoiser, TractInput};
