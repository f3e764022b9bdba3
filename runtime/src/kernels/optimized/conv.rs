//! Conv2d / Linear with loops laid out for the compiler's vectorizer:
//! - Linear (`1 x 1` input): one contiguous dot product per output channel;
//! - otherwise, per output channel and output row, each kernel tap adds a scaled input row
//!   segment into a row of int32 accumulators (contiguous for stride 1), with the padding
//!   handled by clipping the segment instead of testing every tap.

use crate::kernels::quant::{QParams, multiplier, read_f32, read_i32, requantize};
use crate::kernels::reference::{ConvGeometry, DenseParams};

/// Output columns accumulated at once (a stack buffer, no heap).
const CHUNK: usize = 64;

/// `sum((x - z) * w)` over two equally long slices.
#[inline]
fn dot(x: &[i8], w: &[u8], z: i32) -> i32 {
    x.iter()
        .zip(w)
        .map(|(&a, &b)| (i32::from(a) - z) * i32::from(b as i8))
        .sum()
}

/// Bit-exact with [`crate::kernels::reference::conv2d`].
pub fn conv2d(
    x: &[i8],
    qx: QParams,
    p: &DenseParams<'_>,
    g: &ConvGeometry,
    qy: QParams,
    relu: bool,
    y: &mut [i8],
) {
    let (Some(out_h), Some(out_w)) = (g.out_h(), g.out_w()) else {
        return;
    };
    let taps = g.in_c * g.k_h * g.k_w;
    let lo = if relu { qy.zero_point } else { -128 } as i8;
    let z = qx.zero_point;
    let plane = g.in_h * g.in_w;
    let is_linear = plane == 1 && g.k_h == 1 && g.k_w == 1 && g.pad == 0;
    let mut outputs = y.chunks_exact_mut(out_h * out_w);
    for (oc, w_oc) in p.weights.chunks_exact(taps).take(g.out_c).enumerate() {
        let Some(y_oc) = outputs.next() else { return };
        let m = multiplier(qx.scale, read_f32(p.w_scales, oc), qy.scale);
        let bias = read_i32(p.bias, oc);
        if is_linear {
            if let Some(o) = y_oc.first_mut() {
                *o = requantize(bias + dot(x, w_oc, z), m, qy.zero_point).max(lo);
            }
            continue;
        }
        for (oy, y_row) in y_oc.chunks_exact_mut(out_w).enumerate() {
            for (c0, y_chunk) in y_row.chunks_mut(CHUNK).enumerate() {
                let ox0 = c0 * CHUNK;
                let n = y_chunk.len();
                let mut acc = [bias; CHUNK];
                for (ic, w_ic) in w_oc.chunks_exact(g.k_h * g.k_w).enumerate() {
                    let x_ic = x.get(ic * plane..(ic + 1) * plane).unwrap_or(&[]);
                    for (ky, w_row) in w_ic.chunks_exact(g.k_w).enumerate() {
                        let iy = (oy * g.stride + ky).wrapping_sub(g.pad);
                        if iy >= g.in_h {
                            continue; // padding row: contributes 0
                        }
                        let Some(x_row) = x_ic.get(iy * g.in_w..(iy + 1) * g.in_w) else {
                            continue;
                        };
                        for (kx, &wb) in w_row.iter().enumerate() {
                            let w = i32::from(wb as i8);
                            // Output columns j in 0..n whose input column
                            // ix = (ox0 + j) * stride + kx - pad lies in 0..in_w.
                            let base = kx as isize - g.pad as isize;
                            let s = g.stride as isize;
                            let first = (ox0 as isize * s + base).max(0);
                            let j_lo = ((first - base + s - 1) / s - ox0 as isize).max(0) as usize;
                            let j_hi = {
                                let last = g.in_w as isize - 1 - base; // (ox0 + j) * s <= last
                                if last < 0 {
                                    0
                                } else {
                                    ((last / s + 1 - ox0 as isize).max(0) as usize).min(n)
                                }
                            };
                            if j_lo >= j_hi {
                                continue;
                            }
                            let ix0 = ((ox0 + j_lo) as isize * s + base) as usize;
                            let accs = &mut acc[j_lo..j_hi];
                            if g.stride == 1 {
                                let xs = x_row.get(ix0..ix0 + accs.len()).unwrap_or(&[]);
                                for (a, &xv) in accs.iter_mut().zip(xs) {
                                    *a += (i32::from(xv) - z) * w;
                                }
                            } else {
                                let xs = x_row.get(ix0..).unwrap_or(&[]).iter().step_by(g.stride);
                                for (a, &xv) in accs.iter_mut().zip(xs) {
                                    *a += (i32::from(xv) - z) * w;
                                }
                            }
                        }
                    }
                }
                for (o, a) in y_chunk.iter_mut().zip(&acc[..n]) {
                    *o = requantize(*a, m, qy.zero_point).max(lo);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::reference;
    use crate::kernels::reference::tests::{Lcg, scales_bytes};
    extern crate std;
    use std::vec::Vec;

    #[test]
    fn bit_exact_with_reference_over_random_shapes() {
        let mut rng = Lcg(99);
        let mut outputs = 0usize;
        for case in 0..400 {
            let k = [1, 3, 1, 3, 5, 2][case % 6];
            let stride = 1 + (rng.next() % 2) as usize;
            let pad = (rng.next() % (k as u32 / 2 + 2)) as usize;
            let linear = case % 7 == 0;
            let g = ConvGeometry {
                in_c: 1 + (rng.next() % 9) as usize,
                in_h: if linear {
                    1
                } else {
                    1 + (rng.next() % 12) as usize
                },
                in_w: if linear {
                    1
                } else {
                    1 + (rng.next() % 80) as usize
                },
                out_c: 1 + (rng.next() % 7) as usize,
                k_h: if linear { 1 } else { k },
                k_w: if linear { 1 } else { k },
                stride: if linear { 1 } else { stride },
                pad: if linear { 0 } else { pad },
            };
            let (Some(oh), Some(ow)) = (g.out_h(), g.out_w()) else {
                continue;
            };
            let x: Vec<i8> = (0..g.in_c * g.in_h * g.in_w).map(|_| rng.i8()).collect();
            let w: Vec<u8> = (0..g.out_c * g.in_c * g.k_h * g.k_w)
                .map(|_| rng.i8().max(-127) as u8)
                .collect();
            let bias: Vec<u8> = (0..g.out_c)
                .flat_map(|_| (rng.i8() as i32 * 97).to_le_bytes())
                .collect();
            let s_w: Vec<f32> = (0..g.out_c).map(|_| 1e-3 + rng.unit() * 1e-2).collect();
            let sw = scales_bytes(&s_w);
            let p = DenseParams {
                weights: &w,
                bias: &bias,
                w_scales: &sw,
            };
            let qx = QParams {
                scale: 0.01 + rng.unit() * 0.1,
                zero_point: rng.i8() as i32,
            };
            let qy = QParams {
                scale: 0.01 + rng.unit() * 0.3,
                zero_point: rng.i8() as i32,
            };
            let relu = case % 3 == 0;
            let mut a = std::vec![0i8; g.out_c * oh * ow];
            let mut b = a.clone();
            reference::conv2d(&x, qx, &p, &g, qy, relu, &mut a);
            conv2d(&x, qx, &p, &g, qy, relu, &mut b);
            assert_eq!(a, b, "case {case}: {g:?}");
            outputs += a.len();
        }
        std::println!("optimized conv == reference on {outputs} outputs");
    }
}
