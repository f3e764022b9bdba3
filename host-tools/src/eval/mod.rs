//! Sample-quality metrics.

pub mod classifier;
pub mod elbo;
pub mod frechet;
pub mod mmd;
pub mod swd;
