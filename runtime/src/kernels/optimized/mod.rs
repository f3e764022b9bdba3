//! Optimized kernels: same signatures and bit-exact results as [`super::reference`].
//!
//! Integer accumulation is exact in any order (the pack reader bounds every accumulator below
//! 2^31), and requantization is the shared [`super::quant::requantize`], so reordering the
//! loops for speed cannot change a single output bit. Randomized tests check it.

#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod avx2;
mod conv;
mod dot;
#[cfg(feature = "dsp")]
mod dsp;
mod matmul;

pub use conv::{ConvScratch, conv2d, conv2d_in};
pub use matmul::matmul;
