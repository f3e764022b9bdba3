//! Sample-quality metrics.

pub mod classifier;
pub mod frechet;
pub mod mmd;
pub mod swd;
