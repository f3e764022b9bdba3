//! Sample-quality metrics.

pub mod mmd;
pub mod swd;
