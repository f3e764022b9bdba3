//! Portable reference kernels: the oracle for every optimized kernel.
//!
//! Each kernel takes validated slices. Lengths that do not match the geometry make a kernel
//! write fewer outputs, never read or write out of bounds, and never panic.

mod conv;
mod elementwise;
mod layout;
mod matmul;
pub mod norm;
mod pool;
mod resize;
pub mod softmax;

pub use conv::{ConvGeometry, ConvSpec, DenseParams, conv2d};
pub use elementwise::{add, dequantize, lut, mul, quantize, requantize_copy, row_vector};
pub use layout::{SliceGeometry, slice, transpose};
pub use matmul::{MatMulGeometry, matmul};
pub use norm::{GroupNormGeometry, group_norm};
pub use pool::max_pool;
pub use resize::upsample_nearest;
pub use softmax::softmax;

#[cfg(test)]
pub(crate) mod tests {
    extern crate std;
    use std::vec::Vec;

    /// A tiny deterministic generator for kernel tests.
    pub struct Lcg(pub u64);

    impl Lcg {
        pub fn next(&mut self) -> u32 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) as u32
        }
        pub fn i8(&mut self) -> i8 {
            self.next() as i8
        }
        pub fn unit(&mut self) -> f32 {
            (self.next() >> 8) as f32 / 16_777_216.0
        }
    }

    /// Little-endian bytes of `f32` values.
    pub fn scales_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|s| s.to_le_bytes()).collect()
    }

    /// Asserts `|got - want| <= 1` everywhere and adds to a histogram of 0 / 1 / 2+ LSB.
    pub fn assert_within_one_lsb(got: &[i8], want: &[i8], hist: &mut [usize; 3]) {
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            let d = (i32::from(*g) - i32::from(*w)).unsigned_abs() as usize;
            hist[d.min(2)] += 1;
            assert!(d <= 1, "element {i}: got {g}, float reference {w}");
        }
    }
}
