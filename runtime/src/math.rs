//! The few real functions the device needs, in plain `f32` arithmetic so that results are the
//! same bits on every IEEE-754 target (no libm, no fused multiply-add).

use micromath::F32Ext;

/// Square root of a non-negative finite value: micromath's bit-trick estimate (within 5%)
/// refined by three Newton steps, accurate to about one ulp. Returns 0 for 0.
pub fn sqrt(x: f32) -> f32 {
    if x <= 0.0 {
        return 0.0;
    }
    let mut y = F32Ext::sqrt(x);
    for _ in 0..3 {
        y = 0.5 * (y + x / y);
    }
    y
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

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;

    #[test]
    fn ln_and_sqrt_match_std_closely() {
        for i in 1..2000 {
            let x = i as f32 / 2000.0;
            let rel = |a: f32, b: f32| ((a - b) / b).abs();
            assert!(rel(sqrt(x), x.sqrt()) < 4e-7, "sqrt({x})");
            assert!(rel(sqrt(x * 1e4), (x * 1e4).sqrt()) < 4e-7, "sqrt({x}e4)");
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
