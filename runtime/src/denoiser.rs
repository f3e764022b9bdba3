//! The network seen by the sampler.

use crate::Result;

/// A noise-prediction network (or anything that stands in for one).
///
/// The sampler calls [`Denoiser::eval`] once per network evaluation with the current batch
/// `x` (all samples back to back) and expects the raw network output in `out` (same length),
/// in the parameterization given by the sampler's [`crate::prediction::PredictionType`].
pub trait Denoiser {
    /// Evaluates the network.
    ///
    /// - `t` is the training timestep the network is conditioned on.
    /// - `step` is the row of the step table, so precomputed per-step tables (time embeddings,
    ///   per-step activation scales) can be indexed without a search.
    /// - `labels` holds one class label per sample, or is empty for an unconditional model.
    fn eval(
        &mut self,
        x: &[f32],
        t: u32,
        step: usize,
        labels: &[u16],
        out: &mut [f32],
    ) -> Result<()>;
}
