//! Sample-quality metrics.

pub mod swd;
