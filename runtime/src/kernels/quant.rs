//! Quantization arithmetic shared by every kernel.

use crate::math::round_ties_even;

/// Per-tensor activation quantization: `real = scale * (q - zero_point)`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct QParams {
    /// Scale, positive and finite.
    pub scale: f32,
    /// Zero point in [-128, 127].
    pub zero_point: i32,
}

impl QParams {
    /// Quantizes one value: `saturate(round_ties_even(x / scale) + zero_point)`.
    #[inline]
    pub fn quantize(&self, x: f32) -> i8 {
        saturate(round_ties_even(x / self.scale) + self.zero_point as f32)
    }

    /// Dequantizes one value: `(q - zero_point) * scale`.
    #[inline]
    pub fn dequantize(&self, q: i8) -> f32 {
        (i32::from(q) - self.zero_point) as f32 * self.scale
    }
}

/// Clamps to [-128, 127] and converts (NaN becomes 0).
#[inline]
pub fn saturate(v: f32) -> i8 {
    v.clamp(-128.0, 127.0) as i8
}

/// The requantization multiplier of a matmul or conv output channel: `s_x * s_w / s_y`.
#[inline]
pub fn multiplier(s_x: f32, s_w: f32, s_y: f32) -> f32 {
    s_x * s_w / s_y
}

/// Requantizes an int32 accumulator: `saturate(round_ties_even(acc * m) + zero_point)`.
#[inline]
pub fn requantize(acc: i32, m: f32, zero_point: i32) -> i8 {
    saturate(round_ties_even(acc as f32 * m) + zero_point as f32)
}

/// Reads little-endian `i32` number `i` of `bytes` (0 past the end; callers validate lengths).
#[inline]
pub fn read_i32(bytes: &[u8], i: usize) -> i32 {
    match bytes.get(4 * i..4 * i + 4) {
        Some(&[a, b, c, d]) => i32::from_le_bytes([a, b, c, d]),
        _ => 0,
    }
}

/// Reads little-endian `f32` number `i` of `bytes` (0 past the end; callers validate lengths).
#[inline]
pub fn read_f32(bytes: &[u8], i: usize) -> f32 {
    f32::from_bits(read_i32(bytes, i) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_rounds_half_to_even_and_saturates() {
        let q = QParams {
            scale: 0.5,
            zero_point: -3,
        };
        assert_eq!(q.quantize(0.25), -3); // 0.5 -> 0
        assert_eq!(q.quantize(0.75), -1); // 1.5 -> 2
        assert_eq!(q.quantize(1000.0), 127);
        assert_eq!(q.quantize(-1000.0), -128);
        assert_eq!(q.quantize(f32::NAN), 0);
        assert_eq!(q.dequantize(-1), 1.0);
        assert_eq!(requantize(5, 0.5, 10), 12); // 2.5 -> 2
        assert_eq!(requantize(7, 0.5, 10), 14); // 3.5 -> 4
        assert_eq!(requantize(i32::MAX, 1.0, 0), 127);
    }
}
