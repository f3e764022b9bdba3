//! Element-wise kernels: graph-boundary (de)quantization, requantizing add and copy (concat),
//! and 256-entry lookup-table activations.
//!
//! The add and the copy compute `Q(DQ(a) + DQ(b))` and `Q(DQ(x))` in `f32` exactly as the
//! ONNX operators DequantizeLinear -> Add / Concat -> QuantizeLinear define them.

use crate::kernels::quant::QParams;

/// `y = Q(x)` for the network input.
pub fn quantize(x: &[f32], q: QParams, y: &mut [i8]) {
    for (o, v) in y.iter_mut().zip(x) {
        *o = q.quantize(*v);
    }
}

/// `y = DQ(x)` for the network output.
pub fn dequantize(x: &[i8], q: QParams, y: &mut [f32]) {
    for (o, v) in y.iter_mut().zip(x) {
        *o = q.dequantize(*v);
    }
}

/// The row length `n` when the second input of an element-wise op, of storage shape `shape`,
/// is a vector repeated over rows (`[1, 1, n]`, `n > 1`); `None` when it is broadcast per
/// channel or has the first input's shape. One rule for the pack, the host and the int8 ONNX.
pub fn row_vector(shape: [usize; 3]) -> Option<usize> {
    match shape {
        [1, 1, n] if n > 1 => Some(n),
        _ => None,
    }
}

/// `y = Q(DQ(a) + DQ(b))`. `b` either has the length of `a`, or holds one value per channel
/// of `a` (`a.len() / b.len()` consecutive elements each), broadcast over the spatial axes, or
/// with `columns` one value per position of rows of `b.len()` (a vector added to every token).
pub fn add(a: &[i8], qa: QParams, b: (&[i8], QParams, bool), qy: QParams, y: &mut [i8]) {
    binary(a, qa, b, qy, y, |u, v| u + v);
}

/// `y = Q(DQ(a) * DQ(b))`, `b` shaped as in [`add`]: the product of two activations, as in
/// scale-shift modulation (`h * (1 + scale)`) and gating.
pub fn mul(a: &[i8], qa: QParams, b: (&[i8], QParams, bool), qy: QParams, y: &mut [i8]) {
    binary(a, qa, b, qy, y, |u, v| u * v);
}

/// `y = Q(f(DQ(a), DQ(b)))` with `b` of `a`'s length, one value per channel, or (`columns`)
/// one per position of each row.
fn binary(
    a: &[i8],
    qa: QParams,
    (b, qb, columns): (&[i8], QParams, bool),
    qy: QParams,
    y: &mut [i8],
    f: impl Fn(f32, f32) -> f32,
) {
    if columns {
        return by_rows(a, qa, (b, qb), qy, y, &f);
    }
    if a.len() == b.len() {
        for ((o, av), bv) in y.iter_mut().zip(a).zip(b) {
            *o = qy.quantize(f(qa.dequantize(*av), qb.dequantize(*bv)));
        }
        return;
    }
    let Some(plane) = a.len().checked_div(b.len()).filter(|p| *p > 0) else {
        return;
    };
    for ((a_c, y_c), bv) in a.chunks(plane).zip(y.chunks_mut(plane)).zip(b) {
        let vb = qb.dequantize(*bv);
        for (o, av) in y_c.iter_mut().zip(a_c) {
            *o = qy.quantize(f(qa.dequantize(*av), vb));
        }
    }
}

/// [`binary`] with `b` repeated over rows of `b.len()`; kept out of line (and `f` a trait
/// object) so that firmware without token models does not carry a second unrolled copy.
#[inline(never)]
fn by_rows(
    a: &[i8],
    qa: QParams,
    (b, qb): (&[i8], QParams),
    qy: QParams,
    y: &mut [i8],
    f: &dyn Fn(f32, f32) -> f32,
) {
    let n = b.len().max(1);
    for (a_r, y_r) in a.chunks(n).zip(y.chunks_mut(n)) {
        for ((o, av), bv) in y_r.iter_mut().zip(a_r).zip(b) {
            *o = qy.quantize(f(qa.dequantize(*av), qb.dequantize(*bv)));
        }
    }
}

/// `y = Q_y(DQ_x(x))`: a copy that changes quantization (one input of a concat). With equal
/// parameters it is an exact copy.
pub fn requantize_copy(x: &[i8], qx: QParams, qy: QParams, y: &mut [i8]) {
    if qx == qy {
        for (o, v) in y.iter_mut().zip(x) {
            *o = *v;
        }
        return;
    }
    for (o, v) in y.iter_mut().zip(x) {
        *o = qy.quantize(qx.dequantize(*v));
    }
}

/// `y = table[x + 128]`: any activation, tabulated on the host for the tensor's scales.
pub fn lut(x: &[i8], table: &[u8; 256], y: &mut [i8]) {
    for (o, v) in y.iter_mut().zip(x) {
        *o = table[usize::from(*v as u8 ^ 0x80)] as i8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::reference::tests::{Lcg, assert_within_one_lsb};
    extern crate std;
    use std::vec::Vec;

    fn qp(rng: &mut Lcg) -> QParams {
        QParams {
            scale: 0.01 + rng.unit() * 0.05,
            zero_point: rng.i8() as i32 / 2,
        }
    }

    #[test]
    fn a_row_vector_repeats_over_every_row() {
        let mut rng = Lcg(8);
        let (qa, qb, qy) = (qp(&mut rng), qp(&mut rng), qp(&mut rng));
        let a: Vec<i8> = (0..4 * 6).map(|_| rng.i8()).collect();
        let b: Vec<i8> = (0..6).map(|_| rng.i8()).collect();
        let mut y = std::vec![0i8; 24];
        mul(&a, qa, (&b, qb, true), qy, &mut y);
        for (i, o) in y.iter().enumerate() {
            let v = qa.dequantize(a[i]) * qb.dequantize(b[i % 6]);
            assert_eq!(*o, qy.quantize(v), "{i}");
        }
    }

    #[test]
    fn add_matches_float_and_is_exact_to_the_onnx_definition() {
        let mut rng = Lcg(3);
        let mut hist = [0usize; 3];
        for broadcast in [false, true] {
            let (qa, qb, qy) = (qp(&mut rng), qp(&mut rng), qp(&mut rng));
            let a: Vec<i8> = (0..4 * 9).map(|_| rng.i8()).collect();
            let b: Vec<i8> = (0..if broadcast { 4 } else { 36 })
                .map(|_| rng.i8())
                .collect();
            let mut y = std::vec![0i8; 36];
            add(&a, qa, (&b, qb, false), qy, &mut y);
            let expect: Vec<i8> = (0..36)
                .map(|i| {
                    let bv = if broadcast { b[i / 9] } else { b[i] };
                    let v = qa.dequantize(a[i]) as f64 + qb.dequantize(bv) as f64;
                    qy.quantize(v as f32)
                })
                .collect();
            assert_within_one_lsb(&y, &expect, &mut hist);
        }
        std::println!("add vs float: |diff| histogram 0/1/2+ = {hist:?}");
    }

    #[test]
    fn lut_and_copies() {
        let mut table = [0u8; 256];
        for (i, t) in table.iter_mut().enumerate() {
            *t = (i as i32 - 128).max(0) as i8 as u8; // ReLU with zero point 0
        }
        let x = [-128i8, -1, 0, 5, 127];
        let mut y = [0i8; 5];
        lut(&x, &table, &mut y);
        assert_eq!(y, [0, 0, 0, 5, 127]);
        let q = QParams {
            scale: 0.1,
            zero_point: 3,
        };
        requantize_copy(&x, q, q, &mut y);
        assert_eq!(y, x);
        let q2 = QParams {
            scale: 0.2,
            zero_point: -1,
        };
        requantize_copy(&[13, 4], q, q2, &mut y[..2]);
        assert_eq!(&y[..2], &[4, -1]); // (13-3)*0.1/0.2 = 5 -> 4 ; 0.5 -> 0 -> -1
        let mut f = [0.0f32; 2];
        dequantize(&[13, 3], q, &mut f);
        assert_eq!(f, [1.0, 0.0]);
        let mut back = [0i8; 2];
        quantize(&f, q, &mut back);
        assert_eq!(back, [13, 3]);
    }
}
