//! Structured values drawn from fuzzer bytes (zeros once the input runs out).

/// A cursor over the fuzzer's input.
pub struct Bytes<'a>(pub &'a [u8]);

impl Bytes<'_> {
    /// Next byte.
    pub fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    /// Next little-endian `u32`.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// A value in `0..=max`, biased to the ends (0, 1, `max`) and to small values.
    pub fn upto(&mut self, max: usize) -> usize {
        match self.u8() % 8 {
            0 => 0,
            1 => 1.min(max),
            2 => max,
            3 => (self.u32() as usize) % (max + 1),
            _ => usize::from(self.u8()).min(max),
        }
    }

    /// An `f64` that is often special: 0, 1, -1, tiny, huge, NaN, +-inf, or any bit pattern.
    pub fn f64(&mut self) -> f64 {
        match self.u8() % 12 {
            0 => 0.0,
            1 => 1.0,
            2 => -1.0,
            3 => f64::NAN,
            4 => f64::INFINITY,
            5 => f64::NEG_INFINITY,
            6 => 1e-300,
            7 => 1e300,
            8 => f64::from(self.u8()) / 255.0,
            9 => f64::from(self.u8()) * 1e-4,
            _ => f64::from_bits(u64::from(self.u32()) << 32 | u64::from(self.u32())),
        }
    }

    /// A coin flip.
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// The rest of the input.
    pub fn rest(&mut self) -> &[u8] {
        core::mem::take(&mut self.0)
    }
}
