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
/// mode: round to nearest even, the reset value, which nothing here changes. On an embedded
/// core without floating-point hardware (Cortex-M0+ and M3, RV32IMAC) it is
/// [`round_bits_to_i32`], integer operations on the bits, where the `f32` form would be five
/// soft-float calls. Elsewhere it is [`round_ties_even`] and Rust's saturating conversion. The
/// firmware's kernel check compares the device's form with that one under QEMU on every `f32`
/// of magnitude up to 128 on a grid of 2^-11 (ties included) and on random bit patterns.
#[inline(always)]
pub fn round_to_i32(x: f32) -> i32 {
    #[cfg(all(target_arch = "arm", target_feature = "fpregs"))]
    {
        vfp::vcvtr(x)
    }
    // An embedded target without floating-point registers (Arm) or the F extension (RISC-V).
    #[cfg(all(
        target_os = "none",
        not(target_feature = "fpregs"),
        not(target_feature = "f")
    ))]
    {
        round_bits_to_i32(x)
    }
    #[cfg(not(any(
        all(target_arch = "arm", target_feature = "fpregs"),
        all(
            target_os = "none",
            not(target_feature = "fpregs"),
            not(target_feature = "f")
        )
    )))]
    {
        round_ties_even(x) as i32
    }
}

/// `x.is_nan()`; on an embedded core without floating-point hardware, on the bits (there a
/// comparison is a soft-float call).
#[inline(always)]
pub fn is_nan(x: f32) -> bool {
    #[cfg(all(
        target_os = "none",
        not(target_feature = "fpregs"),
        not(target_feature = "f")
    ))]
    {
        x.to_bits() & 0x7fff_ffff > 0x7f80_0000
    }
    #[cfg(not(all(
        target_os = "none",
        not(target_feature = "fpregs"),
        not(target_feature = "f")
    )))]
    {
        x.is_nan()
    }
}

/// `round_ties_even(x) as i32` from the bits of `x` with integer operations only: ties to
/// even, saturating at the `i32` range, NaN to 0. Equal to the `f32` form for every input
/// (tested on every exponent with the mantissas where rounding changes, and random patterns).
#[cfg_attr(
    not(all(
        target_os = "none",
        not(target_feature = "fpregs"),
        not(target_feature = "f")
    )),
    allow(dead_code)
)]
pub(crate) fn round_bits_to_i32(x: f32) -> i32 {
    let bits = x.to_bits();
    let negative = bits >> 31 != 0;
    let exponent = (bits >> 23) & 0xff;
    let fraction = bits & 0x007f_ffff;
    let magnitude = match exponent {
        // NaN.
        0xff if fraction != 0 => return 0,
        // |x| >= 2^31 (or infinite): saturates; -2^31 itself is i32::MIN either way.
        158.. => return if negative { i32::MIN } else { i32::MAX },
        // |x| < 0.5 (subnormals included): 0.
        0..=125 => 0,
        // An integer already: 2^23 <= |x| < 2^31.
        150.. => (fraction | 0x0080_0000) << (exponent - 150),
        // 0.5 <= |x| < 2^23: shift out 1 to 24 fraction bits, rounding half to even.
        _ => {
            let significand = fraction | 0x0080_0000;
            let shift = 150 - exponent;
            let kept = significand >> shift;
            let rest = significand & ((1 << shift) - 1);
            let half = 1 << (shift - 1);
            kept + u32::from(rest > half || (rest == half && kept & 1 == 1))
        }
    };
    // Below 2^31 here, so the conversion and the negation are exact.
    if negative {
        -(magnitude as i32)
    } else {
        magnitude as i32
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
    fn integer_rounding_is_the_f32_form() {
        // Every exponent and sign, with the fraction bits around every rounding boundary
        // (each power-of-two bit alone, below and above it, ties and all-ones), then random
        // patterns: against `round_ties_even(x) as i32`.
        let mut checked = 0usize;
        let mut fractions = std::vec![0u32, 1, 0x007f_ffff, 0x0040_0000];
        for b in 0..23 {
            for f in [
                1u32 << b,
                (1 << b) - 1,
                (1 << b) + 1,
                0x007f_ffff ^ (1 << b),
            ] {
                fractions.push(f & 0x007f_ffff);
            }
        }
        for sign in [0u32, 1 << 31] {
            for exponent in 0..=0xffu32 {
                for &f in &fractions {
                    for low in 0..64u32 {
                        let x = f32::from_bits(sign | exponent << 23 | (f ^ low) & 0x007f_ffff);
                        assert_eq!(round_bits_to_i32(x), round_ties_even(x) as i32, "{x:e}");
                        checked += 1;
                    }
                }
            }
        }
        let mut s = 0x2545_f491u32;
        for _ in 0..4_000_000 {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            let x = f32::from_bits(s);
            assert_eq!(round_bits_to_i32(x), round_ties_even(x) as i32, "{:#x}", s);
            checked += 1;
        }
        // And every value of magnitude up to 2^10 on a grid of 2^-12 (ties included).
        for i in -(1i32 << 22)..=(1 << 22) {
            let x = i as f32 / 4096.0;
            assert_eq!(round_bits_to_i32(x), round_ties_even(x) as i32, "{x}");
            checked += 1;
        }
        std::println!("integer rounding == f32 rounding on {checked} values");
    }

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
