//! Product of two int8 activations (attention's `Q Kᵀ` and `A V`): int32 accumulation of
//! `(a - z_a)(b - z_b)`, then one requantization with `s_a s_b / s_y`, as QLinearMatMul.

use crate::kernels::quant::{QParams, multiplier, requantize_exact};

/// Sizes of a batched product `[batch, m, k] x [batch, k, n] -> [batch, m, n]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatMulGeometry {
    /// Independent products (heads).
    pub batch: usize,
    /// Rows of the left operand and of the output.
    pub m: usize,
    /// The reduced axis.
    pub k: usize,
    /// Columns of the right operand and of the output.
    pub n: usize,
}

/// `y = Q(DQ(a) DQ(b))` per batch. The multiplier is one value, so the product is rounded
/// exactly ([`requantize_exact`]), as tract does for a per-tensor scale.
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
            for (j, o) in y_row.iter_mut().enumerate() {
                let acc: i32 = a_row
                    .iter()
                    .zip(b_b.iter().skip(j).step_by(n))
                    .map(|(u, v)| (i32::from(*u) - za) * (i32::from(*v) - zb))
                    .sum();
                *o = requantize_exact(acc, mult, qy.zero_point);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::reference::tests::{Lcg, assert_within_one_lsb};
    extern crate std;
    use std::vec::Vec;

    #[test]
    fn matches_the_float_product_within_one_lsb() {
        let mut r = Lcg(5);
        let g = MatMulGeometry {
            batch: 2,
            m: 3,
            k: 16,
            n: 5,
        };
        let (qa, qb) = (
            QParams {
                scale: 0.05,
                zero_point: -7,
            },
            QParams {
                scale: 0.03,
                zero_point: 11,
            },
        );
        let qy = QParams {
            scale: 0.04,
            zero_point: 3,
        };
        let a: Vec<i8> = (0..g.batch * g.m * g.k).map(|_| r.i8()).collect();
        let b: Vec<i8> = (0..g.batch * g.k * g.n).map(|_| r.i8()).collect();
        let mut y = std::vec![0i8; g.batch * g.m * g.n];
        matmul(&a, qa, &b, qb, &g, qy, &mut y);
        let mut want = Vec::new();
        for bt in 0..g.batch {
            for i in 0..g.m {
                for j in 0..g.n {
                    let s: f64 = (0..g.k)
                        .map(|t| {
                            f64::from(qa.dequantize(a[(bt * g.m + i) * g.k + t]))
                                * f64::from(qb.dequantize(b[(bt * g.k + t) * g.n + j]))
                        })
                        .sum();
                    want.push(qy.quantize(s as f32));
                }
            }
        }
        let mut hist = [0; 3];
        assert_within_one_lsb(&y, &want, &mut hist);
        assert!(hist[0] > hist[1] * 4, "{hist:?}");
    }
}
