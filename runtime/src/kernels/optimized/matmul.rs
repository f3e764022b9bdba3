//! Product of two activations with the right operand read row by row: for each output row,
//! a block of [`COLS`] int32 accumulators (on the stack) takes `(a - z_a)` times a contiguous
//! row segment of `b - z_b`, which the compiler vectorizes; the reference walks `b` down its
//! columns. Integer sums are exact in any order, so the results are the same bits.

use crate::kernels::quant::{QParams, multiplier, requantize_exact};
use crate::kernels::reference::MatMulGeometry;

/// Output columns accumulated at once.
const COLS: usize = 64;

/// Bit-exact with [`crate::kernels::reference::matmul`].
pub fn matmul(
    a: &[i8],
    qa: QParams,
    b: &[i8],
    qb: QParams,
    g: &MatMulGeometry,
    qy: QParams,
    y: &mut [i8],
) {
    let (MatMulGeometry { m, k, n, .. }, mult) = (*g, multiplier(qa.scale, qb.scale, qy.scale));
    if m == 0 || k == 0 || n == 0 {
        return;
    }
    let (za, zb) = (qa.zero_point, qb.zero_point);
    for ((a_b, b_b), y_b) in a
        .chunks_exact(m * k)
        .zip(b.chunks_exact(k * n))
        .zip(y.chunks_exact_mut(m * n))
        .take(g.batch)
    {
        for (a_row, y_row) in a_b.chunks_exact(k).zip(y_b.chunks_exact_mut(n)) {
            for (c, y_blk) in y_row.chunks_mut(COLS).enumerate() {
                let mut acc = [0i32; COLS];
                let acc = &mut acc[..y_blk.len()];
                let start = c * COLS;
                for (av, b_row) in a_row.iter().zip(b_b.chunks_exact(n)) {
                    let av = i32::from(*av) - za;
                    let seg = b_row.get(start..start + acc.len()).unwrap_or(&[]);
                    for (s, bv) in acc.iter_mut().zip(seg) {
                        *s += av * (i32::from(*bv) - zb);
                    }
                }
                for (o, s) in y_blk.iter_mut().zip(acc.iter()) {
                    *o = requantize_exact(*s, mult, qy.zero_point);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::reference::tests::Lcg;
    extern crate std;
    use std::vec::Vec;

    #[test]
    fn bit_exact_with_reference_over_random_shapes() {
        let mut r = Lcg(41);
        let mut outputs = 0;
        for _ in 0..300 {
            let g = MatMulGeometry {
                batch: 1 + (r.next() % 3) as usize,
                m: 1 + (r.next() % 20) as usize,
                k: 1 + (r.next() % 70) as usize,
                n: 1 + (r.next() % 150) as usize,
            };
            let q = |r: &mut Lcg| QParams {
                scale: 0.001 + r.unit() * 0.1,
                zero_point: i32::from(r.i8()),
            };
            let (qa, qb, qy) = (q(&mut r), q(&mut r), q(&mut r));
            let a: Vec<i8> = (0..g.batch * g.m * g.k).map(|_| r.i8()).collect();
            let b: Vec<i8> = (0..g.batch * g.k * g.n).map(|_| r.i8()).collect();
            let mut want = std::vec![0i8; g.batch * g.m * g.n];
            let mut got = want.clone();
            crate::kernels::reference::matmul(&a, qa, &b, qb, &g, qy, &mut want);
            matmul(&a, qa, &b, qb, &g, qy, &mut got);
            assert_eq!(got, want, "{g:?}");
            outputs += got.len();
        }
        assert!(outputs > 100_000, "{outputs}");
    }
}
