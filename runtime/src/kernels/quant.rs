//! Quantization arithmetic shared by every kernel.

#[cfg(not(target_arch = "x86_64"))]
use crate::math::round_to_i32;

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
    /// Quantizes one value: `saturate(round_ties_even(x * (1 / scale)) + zero_point)`.
    ///
    /// ONNX defines QuantizeLinear with `x / scale`; tract multiplies by the reciprocal, and
    /// so does this, so that both engines round the same way (the two forms differ in the
    /// last bit for a small fraction of inputs, which can move a value by one LSB). In a loop
    /// the compiler hoists the reciprocal, leaving one multiply per value.
    #[inline]
    pub fn quantize(&self, x: f32) -> i8 {
        round_saturate(x * (1.0 / self.scale), self.zero_point)
    }

    /// Dequantizes one value: `(q - zero_point) * scale`.
    #[inline]
    pub fn dequantize(&self, q: i8) -> f32 {
        (i32::from(q) - self.zero_point) as f32 * self.scale
    }
}

/// `saturate(round_ties_even(v) + zero_point)`: the last step of every quantization.
///
/// The value is rounded to an integer in `f32` ([`round_to_i32`]: one instruction on a
/// Cortex-M with an FPU) and the zero point added in integers. Adding it in `f32` instead
/// gives the same result for every `v`: the sum is exact below 2^24, past it both saturate,
/// and NaN gives 0 either way.
///
/// On x86_64 the same result comes from a branch-free form that the compiler vectorizes over
/// a loop of outputs: the value clamped to `+-2^22` (past it every zero point of magnitude
/// below `2^21`, which includes every int8 zero point, saturates the same way; a NaN's
/// result, whatever its bits give, is replaced by 0 at the end), rounded by adding
/// `1.5 * 2^23` (ties to even under the default rounding mode: the sum lies in
/// `[2^23, 2^24]`, where the spacing is 1) and read back as an integer from the bits (the
/// sum's bits minus `MAGIC`'s), offset by the zero point (clamped to `+-2^24`, which keeps its
/// saturation) and saturated.
#[inline(always)]
pub fn round_saturate(v: f32, zero_point: i32) -> i8 {
    #[cfg(target_arch = "x86_64")]
    {
        const LIMIT: f32 = 4_194_304.0;
        const MAGIC: f32 = 12_582_912.0;
        let sum = v.clamp(-LIMIT, LIMIT) + MAGIC;
        let r = (sum.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32);
        let q = r
            .wrapping_add(zero_point.clamp(-(1 << 24), 1 << 24))
            .clamp(-128, 127) as i8;
        if v.is_nan() { 0 } else { q }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        if crate::math::is_nan(v) {
            return 0;
        }
        round_to_i32(v).saturating_add(zero_point).clamp(-128, 127) as i8
    }
}

/// The requantization multiplier of a matmul or conv output channel: `s_x * s_w / s_y`. The
/// int8 ONNX stores these values themselves (as the QLinearConv weight scales, with input
/// and output scales 1), so no engine evaluates the expression in another order.
#[inline]
pub fn multiplier(s_x: f32, s_w: f32, s_y: f32) -> f32 {
    s_x * s_w / s_y
}

/// How a conv or linear layer rounds `acc * m`, following tract so that both engines agree bit
/// for bit: a layer whose output channels share one multiplier (one output channel, or equal
/// weight scales) takes the exact fixed-point product, per-channel multipliers the `f32`
/// product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Rounding {
    /// [`requantize_exact`].
    Exact,
    /// [`requantize`].
    F32,
}

impl Rounding {
    /// The rounding of a layer with `out_c` output channels and weight scales `w_scales`
    /// (little-endian `f32`).
    pub fn of_layer(qx: QParams, w_scales: &[u8], out_c: usize, qy: QParams) -> Self {
        let m = |c| multiplier(qx.scale, read_f32(w_scales, c), qy.scale).to_bits();
        if (1..out_c).all(|c| m(c) == m(0)) {
            Rounding::Exact
        } else {
            Rounding::F32
        }
    }

    /// Requantizes one accumulator with multiplier `m`.
    #[inline]
    pub fn requantize(self, acc: i32, m: f32, zero_point: i32) -> i8 {
        match self {
            Rounding::Exact => requantize_exact(acc, m, zero_point),
            Rounding::F32 => requantize(acc, m, zero_point),
        }
    }
}

/// Requantizes an int32 accumulator in `f32`:
/// `saturate(round_ties_even(acc as f32 * m) + zero_point)` ([`round_saturate`]).
#[inline]
pub fn requantize(acc: i32, m: f32, zero_point: i32) -> i8 {
    round_saturate(acc as f32 * m, zero_point)
}

/// Requantizes an int32 accumulator: `saturate(round_ties_even(acc * m) + zero_point)`, with
/// the product exact.
///
/// `m` is `mant 2^-shift` with the 24-bit significand `mant`, so `acc * mant` is exact in
/// `i64` and the rounding shift sees every bit: the fixed-point requantization of tract (and
/// of gemmlowp / CMSIS-NN, whose multipliers are 31-bit). [`requantize`] rounds the product
/// to `f32` first and differs from it by one LSB for about one output in 10^5.
#[inline]
pub fn requantize_exact(acc: i32, m: f32, zero_point: i32) -> i8 {
    // Only the clamp to int8 matters past this magnitude.
    const BIG: i64 = 1 << 20;
    let bits = m.to_bits() & 0x7fff_ffff;
    let biased = (bits >> 23) as i32;
    let frac = i64::from(bits & 0x007f_ffff);
    let mant = if biased == 0 {
        frac
    } else {
        frac | 0x0080_0000
    };
    let shift = 150 - biased.max(1);
    // |prod| < 2^55.
    let prod = i64::from(acc) * mant;
    let scaled = if shift >= 63 {
        // |acc * m| < 2^-8: rounds to 0.
        0
    } else if shift <= 0 {
        // m >= 2^23: every non-zero accumulator saturates.
        prod.signum() * BIG
    } else {
        // Ties to even without branches: with prod = q 2^s + r (0 <= r < 2^s), adding
        // 2^(s-1) - 1 + (q & 1) before the floor shift carries into q exactly when
        // r > 2^(s-1), or r == 2^(s-1) and q is odd. No overflow: the sum stays below 2^63.
        let s = shift as u32;
        let q = prod >> s;
        (prod + (1i64 << (s - 1)) - 1 + (q & 1)) >> s
    };
    (scaled + i64::from(zero_point)).clamp(-128, 127) as i8
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
    use crate::math::round_ties_even;

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
        assert_eq!(requantize(0, f32::INFINITY, 9), 0); // NaN product
        assert_eq!(requantize(-1, f32::INFINITY, 9), -128);
        assert_eq!(requantize_exact(-7, 0.5, 0), -4); // -3.5 -> -4
        assert_eq!(requantize_exact(-5, 0.5, 0), -2); // -2.5 -> -2
        assert_eq!(requantize_exact(3, 1e30, 0), 127);
        assert_eq!(requantize_exact(-3, f32::INFINITY, 0), -128);
        assert_eq!(requantize_exact(3, 0.0, 5), 5);
    }

    #[test]
    fn round_saturate_is_the_f32_formula() {
        // Integer zero-point addition against the f32 one, on a grid of quarters (ties) over
        // the range that matters, then on random bit patterns (huge, tiny, infinite, NaN).
        // `saturate` in f32: clamp to [-128, 127], NaN to 0.
        let f32_formula =
            |v: f32, z: i32| (round_ties_even(v) + z as f32).clamp(-128.0, 127.0) as i8;
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        for z in [-128, -37, 0, 1, 127] {
            for i in -2_000..2_000 {
                let v = i as f32 * 0.25;
                assert_eq!(round_saturate(v, z), f32_formula(v, z), "{v} {z}");
            }
            for _ in 0..200_000 {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let v = f32::from_bits(s as u32);
                assert_eq!(round_saturate(v, z), f32_formula(v, z), "{v:e} {z}");
            }
        }
    }

    #[test]
    fn requantize_rounds_the_exact_product() {
        // Against the product in f64 (exact: 31 + 24 bits), over random accumulators and
        // multipliers; the f32 product would miss some of these.
        let mut s = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let (mut differs_in_f32, n) = (0, 1_000_000);
        for _ in 0..n {
            let acc = ((next() as i32) >> (next() % 24)) | 1;
            // Products up to about +-130: the range where rounding matters.
            let m = ((next() % 130_000) as f64 / 1000.0 / f64::from(acc).abs()) as f32;
            let exact = acc as f64 * m as f64;
            let expect = (exact.round_ties_even() as i64).clamp(-128, 127) as i8;
            assert_eq!(requantize_exact(acc, m, 0), expect, "{acc} * {m:e}");
            let f = (round_ties_even(acc as f32 * m)).clamp(-128.0, 127.0) as i8;
            differs_in_f32 += usize::from(f != expect);
        }
        assert!(
            differs_in_f32 > 0,
            "the test never hits a double-rounding case"
        );
        // Exact ties: m = 2^-k, accumulators with and without the half bit, both signs and
        // with zero points.
        for k in 1..40 {
            let m = (0.5f64).powi(k) as f32;
            for _ in 0..2000 {
                let acc = (next() as i32) >> (next() % 31);
                let zero_point = (next() % 256) as i32 - 128;
                let exact = (acc as f64 * m as f64).round_ties_even() as i64;
                let expect = (exact + i64::from(zero_point)).clamp(-128, 127) as i8;
                assert_eq!(
                    requantize_exact(acc, m, zero_point),
                    expect,
                    "{acc} * 2^-{k}"
                );
            }
        }
    }
}
