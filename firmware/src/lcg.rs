//! A small deterministic generator for the on-device checks and comparisons (no `rand` on
//! the device: these only need reproducible bytes).

/// Knuth's MMIX linear congruential generator; the high bits are returned.
pub struct Lcg(pub u64);

impl Lcg {
    /// The next 31 bits.
    pub fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }

    /// A value in `0..n` (0 when `n` is 0).
    #[cfg_attr(not(feature = "kernel-check"), allow(dead_code))]
    pub fn below(&mut self, n: u32) -> usize {
        (self.next() % n.max(1)) as usize
    }

    /// Any `i8`.
    pub fn i8(&mut self) -> i8 {
        self.next() as i8
    }
}
