//! The few real functions the device needs, in plain `f32` arithmetic so that results are the
//! same bits on every IEEE-754 target (no libm, no fused multiply-add).

/// Square root, correctly rounded (round to nearest, ties to even): the same bits as IEEE-754
/// `sqrt`, `f32::sqrt` in std, tract's `Sqrt` and the Cortex-M4F `VSQRT.F32`, computed with
/// integer arithmetic only. Returns 0 for zero and negative values, NaN for NaN, infinity
/// for infinity.
pub fn sqrt(x: f32) -> f32 {
    if x.is_nan() || x == f32::INFINITY {
        return x;
    }
    if x <= 0.0 {
        return 0.0;
    }
    let bits = x.to_bits();
    let mut biased = (bits >> 23) as i32;
    let mut m = u64::from(bits & 0x007f_ffff);
    if biased == 0 {
        // Subnormal: normalise the significand.
        biased = 1;
        while m & (1 << 23) == 0 {
            m <<= 1;
            biased -= 1;
        }
    } else {
        m |= 1 << 23;
    }
    // x = m 2^e with m in [2^23, 2^24); make e even and m in [2^24, 2^26).
    let mut e = biased - 150;
    if e & 1 != 0 {
        m <<= 1;
        e -= 1;
    } else {
        m <<= 2;
        e -= 2;
    }
    // sqrt(x) = sqrt(m 2^24) 2^(e/2 - 12), and isqrt(m 2^24) has exactly 25 bits: 24 for
    // the result and one rounding bit; the remainder says whether anything lies below.
    let (r, rem) = isqrt(m << 24);
    let mut q = r >> 1;
    if r & 1 == 1 && (rem != 0 || q & 1 == 1) {
        q += 1;
    }
    // q in [2^23, 2^24] carries the implicit bit into the exponent field (a carry to 2^24
    // moves to the next binade on its own).
    let exponent_field = (e / 2 - 11 + 23 + 127 - 1) as u32;
    f32::from_bits((exponent_field << 23) + q as u32)
}

/// Integer square root by the binary digit-by-digit method: `(floor(sqrt(n)), n - root^2)`
/// for `n < 2^62`.
fn isqrt(n: u64) -> (u64, u64) {
    let mut rem = n;
    let mut root = 0u64;
    let mut bit = 1u64 << 62;
    while bit > n {
        bit >>= 2;
    }
    while bit != 0 {
        if rem >= root + bit {
            rem -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    (root, rem)
}

/// Natural logarithm of a positive normal value, accurate to a few ulps: the binary exponent
/// plus `2 atanh((m - 1) / (m + 1))` of the mantissa `m` in `[sqrt(1/2), sqrt(2)]`.
pub fn ln(x: f32) -> f32 {
    const LN_2: f32 = core::f32::consts::LN_2;
    const SQRT_2: f32 = core::f32::consts::SQRT_2;
    let bits = x.to_bits();
    let mut exponent = ((bits >> 23) & 0xff) as i32 - 127;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000); // in [1, 2)
    if m > SQRT_2 {
        m *= 0.5;
        exponent += 1;
    }
    // |u| <= 0.1716: the series to u^9 is below f32 precision after.
    let u = (m - 1.0) / (m + 1.0);
    let u2 = u * u;
    let series = u * (1.0 + u2 * (1.0 / 3.0 + u2 * (1.0 / 5.0 + u2 * (1.0 / 7.0 + u2 / 9.0))));
    exponent as f32 * LN_2 + 2.0 * series
}

/// Rounds to the nearest integer, ties to even (numpy's `round`, ONNX's QuantizeLinear).
///
/// Adding and subtracting `2^23` makes the FPU's default rounding mode do the work; values of
/// magnitude `2^23` or more are already integers and NaN stays NaN.
pub fn round_ties_even(x: f32) -> f32 {
    const TWO_23: f32 = 8_388_608.0;
    if x.abs() < TWO_23 {
        if x >= 0.0 {
            (x + TWO_23) - TWO_23
        } else {
            (x - TWO_23) + TWO_23
        }
    } else {
        x
    }
}

/// Rounds to the nearest integer, ties to even, and converts: `round_ties_even(x) as i32`
/// (saturating at the `i32` range, NaN becomes 0).
///
/// On an ARM core with an FPU this is the one `VCVTR.S32.F32`, which rounds in the FPSCR's
/// mode: round to nearest even, the reset value, which nothing here changes. Elsewhere it is
/// [`round_ties_even`] and Rust's saturating conversion. The firmware's kernel check compares
/// the two under QEMU on every `f32` of magnitude up to 128 on a grid of 2^-11 (ties
/// included) and on random bit patterns.
#[inline(always)]
pub fn round_to_i32(x: f32) -> i32 {
    #[cfg(all(target_arch = "arm", target_feature = "fpregs"))]
    {
        vfp::vcvtr(x)
    }
    #[cfg(not(all(target_arch = "arm", target_feature = "fpregs")))]
    {
        round_ties_even(x) as i32
    }
}

/// The one VFP instruction the kernels need.
#[cfg(all(target_arch = "arm", target_feature = "fpregs"))]
#[allow(unsafe_code)]
mod vfp {
    /// `VCVTR.S32.F32`: `f32` to `i32` in the FPSCR rounding mode, saturating, NaN to 0.
    #[inline(always)]
    pub fn vcvtr(x: f32) -> i32 {
        let r: i32;
        // SAFETY: FPU register moves and one conversion: no memory, no stack. It may set the
        // FPSCR's cumulative exception flags (invalid, inexact), which nothing reads.
        unsafe {
            core::arch::asm!("vmov s15, {x}", "vcvtr.s32.f32 s15, s15", "vmov {r}, s15",
                             x = in(reg) x.to_bits(), r = lateout(reg) r, out("s15") _,
                             options(pure, nomem, nostack, preserves_flags));
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;

    #[test]
    fn sqrt_is_correctly_rounded() {
        // Every bit pattern of a few binades (subnormals, around 1, the top), then random
        // patterns over the whole positive range: identical to std's IEEE sqrt.
        let ranges = [
            0u32..0x0010_0000,
            0x3f00_0000..0x4080_0000,
            0x7f00_0000..0x7f80_0000,
        ];
        for bits in ranges.into_iter().flatten() {
            let x = f32::from_bits(bits);
            assert_eq!(sqrt(x).to_bits(), x.sqrt().to_bits(), "sqrt({x:e})");
        }
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2_000_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let x = f32::from_bits((s as u32) & 0x7fff_ffff);
            if x.is_finite() {
                assert_eq!(sqrt(x).to_bits(), x.sqrt().to_bits(), "sqrt({x:e})");
            }
        }
        assert_eq!(sqrt(0.0), 0.0);
        assert_eq!(sqrt(-1.0), 0.0);
        assert_eq!(sqrt(f32::INFINITY), f32::INFINITY);
        assert!(sqrt(f32::NAN).is_nan());
    }

    #[test]
    fn ln_matches_std_closely() {
        for i in 1..2000 {
            let x = i as f32 / 2000.0;
            let l = ln(x);
            assert!(
                (l - x.ln()).abs() < 2e-7 * (1.0 + x.ln().abs()),
                "ln({x}) = {l}"
            );
        }
        assert_eq!(sqrt(0.0), 0.0);
    }

    #[test]
    fn rounding_is_ties_to_even() {
        for (x, r) in [
            (0.5, 0.0),
            (1.5, 2.0),
            (2.5, 2.0),
            (-0.5, -0.0),
            (-1.5, -2.0),
            (-2.5, -2.0),
            (2.4999, 2.0),
            (-3.7, -4.0),
            (1e9, 1e9),
        ] {
            assert_eq!(round_ties_even(x), r, "{x}");
        }
        for i in -5000..5000 {
            let x = i as f32 * 0.173;
            assert_eq!(round_ties_even(x), x.round_ties_even(), "{x}");
        }
        assert!(round_ties_even(f32::NAN).is_nan());
    }
}
