//! edgediff host tools: everything that runs on the desktop.
//!
//! - [`cli`]: the `edgediff` command line, one module per command.
//! - [`compile`]: int8 graph to model pack (arena planner, pack writer).
//! - [`diffusers`]: diffusers' scheduler configs and conformance cases.
//! - [`data`]: training and evaluation data: 2-D toy sets, the exact denoiser of a Gaussian
//!   mixture, the UCI digits.
//! - [`eval`]: sample-quality metrics.
//! - [`sampling`]: runs the runtime's sampler on the desktop with heap buffers.

pub mod cli;
pub mod compile;
pub mod data;
pub mod diffusers;
pub mod engines;
pub mod error;
pub mod eval;
pub mod files;
pub mod ir;
pub mod model;
pub mod onnx;
pub mod pipeline;
pub mod plot;
pub mod quantize;
pub mod sampling;
pub mod train;
