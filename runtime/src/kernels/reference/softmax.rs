//! Softmax over the last axis on int8, in integers only, so that every engine computes the
//! same bits from the int8 ONNX (Cast, ReduceMax, Sub, Gather, ReduceSum, Mul, Add, Div, Min,
//! Sub, Cast on int32):
//!
//! 1. `d_i = max(x) - x_i` in `0..=255`;
//! 2. `e_i = T[d_i]`, with `T[d] = round(2^15 exp(-s_x d))` tabulated on the host;
//! 3. `y_i = min((256 e_i + S / 2) / S, 255) - 128` with `S = sum(e)`, integer division.
//!
//! The output scale is 1/256 and its zero point -128 ([`OUTPUT`]), as TFLite's int8 softmax.

use crate::kernels::quant::QParams;

/// Quantization of every softmax output: probabilities in steps of 1/256.
pub const OUTPUT: QParams = QParams {
    scale: 1.0 / 256.0,
    zero_point: -128,
};

/// `T[0]`: the table's fixed-point one.
pub const ONE: u16 = 1 << 15;

/// Longest softmax axis: `256 T[0] + S / 2` stays below `2^31` (the int32 arithmetic of the
/// int8 ONNX) for up to 65,535 entries.
pub const MAX_AXIS: usize = u16::MAX as usize;

/// The exponential table for input scale `scale`: `T[d] = round(2^15 exp(-scale d))`.
#[cfg(feature = "std")]
pub fn exp_table(scale: f32) -> [u16; 256] {
    core::array::from_fn(|d| {
        let v = (f64::from(ONE) * (-f64::from(scale) * d as f64).exp()).round();
        v.clamp(0.0, f64::from(ONE)) as u16
    })
}

/// Softmax over rows of `n` values of `x`, with the exponential `table` (`T[d]`).
pub fn softmax(x: &[i8], n: usize, table: &[u16; 256], y: &mut [i8]) {
    if n == 0 {
        return;
    }
    for (x_r, y_r) in x.chunks_exact(n).zip(y.chunks_exact_mut(n)) {
        let max = x_r.iter().copied().max().unwrap_or(0);
        let e = |v: i8| u32::from(table[usize::from(max.abs_diff(v))]);
        // Fits: n <= MAX_AXIS and T[d] <= 2^15, so S < 2^31.
        let sum: u32 = x_r.iter().map(|v| e(*v)).sum();
        if sum == 0 {
            y_r.fill(OUTPUT.zero_point as i8);
            continue;
        }
        for (o, v) in y_r.iter_mut().zip(x_r) {
            let p = ((256 * e(*v) + sum / 2) / sum).min(255);
            *o = (p as i32 + OUTPUT.zero_point) as i8;
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn rows_sum_to_one_and_follow_the_float_softmax() {
        let s = 0.05;
        let t = exp_table(s);
        assert_eq!(t[0], ONE);
        let x: [i8; 8] = [-100, -20, 0, 3, 40, 41, 127, -128];
        let mut y = [0i8; 8];
        softmax(&x, 4, &t, &mut y);
        for (xr, yr) in x.chunks(4).zip(y.chunks(4)) {
            let ex: Vec<f64> = xr
                .iter()
                .map(|v| (f64::from(s) * f64::from(*v)).exp())
                .collect();
            let z: f64 = ex.iter().sum();
            let total: f64 = yr.iter().map(|q| f64::from(OUTPUT.dequantize(*q))).sum();
            assert!((total - 1.0).abs() < 3.0 / 256.0, "{total}");
            for (e, q) in ex.iter().zip(yr) {
                let p = f64::from(OUTPUT.dequantize(*q));
                assert!((p - e / z).abs() <= 1.0 / 256.0, "{p} vs {}", e / z);
            }
        }
    }

    #[test]
    fn one_hot_saturates_at_255_of_256() {
        let t = exp_table(1.0);
        let mut y = [0i8; 3];
        softmax(&[127, -128, -128], 3, &t, &mut y);
        assert_eq!(y, [127, -128, -128]);
    }
}
