//! Float evaluation of a [`FloatGraph`](crate::ir::FloatGraph): every intermediate tensor
//! (calibration, error reports, the tests' reference), and the network as a
//! [`edgediff_runtime::Denoiser`].

mod denoiser;
mod eval;

pub use denoiser::FloatDenoiser;
pub use eval::{evaluate, evaluate_with};
