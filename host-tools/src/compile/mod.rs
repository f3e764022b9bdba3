//! From an int8 graph to a model pack: arena planning and the pack writer.
//!
//! [`crate::ir::QGraph`] is the quantized network in memory (what `edgediff quantize` produces
//! from a quantized ONNX file); [`planner`] places its activations in one arena; [`writer`]
//! serialises graph, plan and step table with the runtime's own layout constants.

pub mod planner;
pub mod writer;
