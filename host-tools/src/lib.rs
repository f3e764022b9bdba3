//! edgediff host tools: everything that runs on the desktop.
//!
//! - [`cli`]: the `edgediff` command line, one module per command.
//! - [`compile`]: int8 graph to model pack (arena planner, pack writer).
//! - [`toy`]: 2-D toy distributions and their exact (analytic) denoisers.
//! - [`eval`]: sample-quality metrics.
//! - [`sampling`]: runs the runtime's sampler on the desktop with heap buffers.

pub mod cli;
pub mod compile;
pub mod error;
pub mod eval;
pub mod model;
pub mod onnx;
pub mod quantize;
pub mod sampling;
pub mod toy;
pub mod train;
