//! Conv2d / Linear with the work laid out as dot products the compiler vectorizes:
//! - the input patch of one output pixel is gathered once (im2col, on the stack) as `i16`
//!   values `x - z_x` (padding taps become 0), then every output channel is one contiguous
//!   `i16 x i8 -> i32` dot product with its weight row ([`super::dot`]);
//!   Linear (`1 x 1` input) is the same with the whole input as the one patch;
//! - patches longer than [`MAX_PATCH`] fall back to row accumulation: per output channel and
//!   output row, each kernel tap adds a scaled input row segment into int32 accumulators;
//! - a grouped conv runs each group as its own dense conv on the group's channels.

use super::dot::{dot_i16_i8, prepare};
use crate::kernels::quant::{QParams, Rounding, multiplier, read_f32, read_i32};
use crate::kernels::reference::{ConvGeometry, DenseParams};

/// Longest patch (`in_c * k_h * k_w`) gathered on the stack: 2 KiB of `i16`.
pub const MAX_PATCH: usize = 1024;
/// Output channels whose multipliers and biases are prepared at once.
const OC_BLOCK: usize = 32;
/// Output columns accumulated at once by the fallback (a stack buffer, no heap).
const CHUNK: usize = 64;

/// One conv call: its operands and the derived sizes both strategies use.
struct Conv<'a, 'p> {
    x: &'a [i8],
    qx: QParams,
    p: &'a DenseParams<'p>,
    g: &'a ConvGeometry,
    qy: QParams,
    /// Output rows and columns.
    out_h: usize,
    out_w: usize,
    /// Kernel taps per output channel.
    taps: usize,
    /// The lowest output value (the zero point with a fused ReLU).
    lo: i8,
    /// How accumulators are rounded.
    rounding: Rounding,
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
    let (icg, groups) = (g.group_in(), g.groups);
    if icg == 0 {
        return;
    }
    // Rounding is a property of the whole layer (all its multipliers), not of one group.
    let rounding = Rounding::of_layer(qx, p.w_scales, g.out_c, qy);
    let ocg = g.out_c / groups;
    let group = ConvGeometry {
        in_c: icg,
        out_c: ocg,
        groups: 1,
        ..*g
    };
    let taps = group.taps();
    if taps > MAX_PATCH && g.up > 1 {
        // Long patches over a stuffed input: rare (a wide transposed conv); the reference.
        return crate::kernels::reference::conv2d(x, qx, p, g, qy, relu, y);
    }
    let (x_len, y_len) = (icg * g.in_h * g.in_w, ocg * out_h * out_w);
    let slices = x
        .chunks_exact(x_len)
        .zip(y.chunks_exact_mut(y_len))
        .zip(p.weights.chunks_exact(ocg * taps))
        .zip(
            p.bias
                .chunks_exact(4 * ocg)
                .zip(p.w_scales.chunks_exact(4 * ocg)),
        );
    for (((x, y), weights), (bias, w_scales)) in slices.take(groups) {
        let p = DenseParams {
            weights,
            bias,
            w_scales,
        };
        let c = Conv {
            x,
            qx,
            p: &p,
            g: &group,
            qy,
            out_h,
            out_w,
            taps,
            lo: if relu { qy.zero_point } else { -128 } as i8,
            rounding,
        };
        if taps <= MAX_PATCH {
            patches(&c, y);
        } else {
            rows(&c, y);
        }
    }
}

/// [`gather`] for a stuffed input (a transposed conv) or a dilated kernel: taps between
/// stuffed values and in the padding are 0.
fn gather_general(x: &[i8], z: i32, g: &ConvGeometry, (oy, ox): (usize, usize), patch: &mut [i16]) {
    let plane = g.in_h * g.in_w;
    let mut taps = patch.chunks_exact_mut(g.k_w);
    for ic in 0..g.in_c {
        let x_ic = x.get(ic * plane..(ic + 1) * plane).unwrap_or(&[]);
        for ky in 0..g.k_h {
            let Some(dst) = taps.next() else { return };
            let Some(iy) = g.row(oy, ky) else {
                dst.fill(0);
                continue;
            };
            let row = x_ic.get(iy * g.in_w..(iy + 1) * g.in_w).unwrap_or(&[]);
            for (kx, d) in dst.iter_mut().enumerate() {
                *d = g
                    .col(ox, kx)
                    .and_then(|ix| row.get(ix))
                    .map_or(0, |&v| (i32::from(v) - z) as i16);
            }
        }
    }
}

/// Writes the patch of output pixel `(oy, ox)` into `patch` (`x - z`, 0 for padding).
fn gather(x: &[i8], z: i32, g: &ConvGeometry, (oy, ox): (usize, usize), patch: &mut [i16]) {
    if g.up > 1 || g.dilation > 1 {
        return gather_general(x, z, g, (oy, ox), patch);
    }
    let plane = g.in_h * g.in_w;
    let ix0 = (ox * g.stride).wrapping_sub(g.pad_w);
    // The kernel's columns all inside the input row: copy a contiguous segment.
    let inside = ox * g.stride >= g.pad_w && ix0 + g.k_w <= g.in_w;
    let mut rows = patch.chunks_exact_mut(g.k_w);
    for ic in 0..g.in_c {
        let x_ic = x.get(ic * plane..(ic + 1) * plane).unwrap_or(&[]);
        for ky in 0..g.k_h {
            let Some(dst) = rows.next() else { return };
            let iy = (oy * g.stride + ky).wrapping_sub(g.pad_h);
            let row = if iy < g.in_h {
                x_ic.get(iy * g.in_w..(iy + 1) * g.in_w)
            } else {
                None
            };
            match row {
                None => dst.fill(0),
                Some(r) if inside => {
                    let src = r.get(ix0..ix0 + g.k_w).unwrap_or(&[]);
                    for (d, &v) in dst.iter_mut().zip(src) {
                        *d = (i32::from(v) - z) as i16;
                    }
                }
                Some(r) => {
                    for (kx, d) in dst.iter_mut().enumerate() {
                        let ix = (ox * g.stride + kx).wrapping_sub(g.pad_w);
                        *d = r.get(ix).map_or(0, |&v| (i32::from(v) - z) as i16);
                    }
                }
            }
        }
    }
}

/// im2col: one patch per output pixel, one dot product per output channel.
fn patches(c: &Conv<'_, '_>, y: &mut [i8]) {
    let Conv {
        x,
        qx,
        p,
        g,
        qy,
        taps,
        lo,
        rounding,
        ..
    } = *c;
    let (out_w, out_plane) = (c.out_w, c.out_h * c.out_w);
    let mut buf = [0i16; MAX_PATCH];
    let patch = &mut buf[..taps];
    let mut m = [0f32; OC_BLOCK];
    let mut bias = [0i32; OC_BLOCK];
    for oc0 in (0..g.out_c).step_by(OC_BLOCK) {
        let n = OC_BLOCK.min(g.out_c - oc0);
        for j in 0..n {
            m[j] = multiplier(qx.scale, read_f32(p.w_scales, oc0 + j), qy.scale);
            bias[j] = read_i32(p.bias, oc0 + j);
        }
        let w_block = p.weights.get(oc0 * taps..(oc0 + n) * taps).unwrap_or(&[]);
        for pix in 0..out_plane {
            gather(x, qx.zero_point, g, (pix / out_w, pix % out_w), patch);
            prepare(patch);
            for (j, w_oc) in w_block.chunks_exact(taps).enumerate() {
                let acc = bias[j] + dot_i16_i8(patch, w_oc);
                if let Some(o) = y.get_mut((oc0 + j) * out_plane + pix) {
                    *o = rounding.requantize(acc, m[j], qy.zero_point).max(lo);
                }
            }
        }
    }
}

/// The fallback for long patches: row segments accumulated per kernel tap.
fn rows(c: &Conv<'_, '_>, y: &mut [i8]) {
    let Conv {
        x,
        qx,
        p,
        g,
        qy,
        out_h,
        out_w,
        taps,
        lo,
        rounding,
    } = *c;
    let z = qx.zero_point;
    let plane = g.in_h * g.in_w;
    let mut outputs = y.chunks_exact_mut(out_h * out_w);
    for (oc, w_oc) in p.weights.chunks_exact(taps).take(g.out_c).enumerate() {
        let Some(y_oc) = outputs.next() else { return };
        let m = multiplier(qx.scale, read_f32(p.w_scales, oc), qy.scale);
        let bias = read_i32(p.bias, oc);
        for (oy, y_row) in y_oc.chunks_exact_mut(out_w).enumerate() {
            for (c0, y_chunk) in y_row.chunks_mut(CHUNK).enumerate() {
                let ox0 = c0 * CHUNK;
                let n = y_chunk.len();
                let mut acc = [bias; CHUNK];
                for (ic, w_ic) in w_oc.chunks_exact(g.k_h * g.k_w).enumerate() {
                    let x_ic = x.get(ic * plane..(ic + 1) * plane).unwrap_or(&[]);
                    for (ky, w_row) in w_ic.chunks_exact(g.k_w).enumerate() {
                        let iy = (oy * g.stride + ky * g.dilation).wrapping_sub(g.pad_h);
                        if iy >= g.in_h {
                            continue; // padding row: contributes 0
                        }
                        let Some(x_row) = x_ic.get(iy * g.in_w..(iy + 1) * g.in_w) else {
                            continue;
                        };
                        for (kx, &wb) in w_row.iter().enumerate() {
                            let w = i32::from(wb as i8);
                            // Output columns j in 0..n whose input column
                            // ix = (ox0 + j) * stride + kx * dilation - pad lies in 0..in_w.
                            let base = (kx * g.dilation) as isize - g.pad_w as isize;
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
                    *o = rounding.requantize(*a, m, qy.zero_point).max(lo);
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
            let long = case % 10 == 5; // patches longer than MAX_PATCH: the row fallback
            // Transposed convs (the input stuffed), some with long patches too.
            let stuffed = !linear && case % 5 == 3;
            let up = if stuffed { 2 + case % 2 } else { 1 };
            // Grouped (some depthwise), dilated, and 1-D (one row, padding on columns only).
            let groups = if linear { 1 } else { [1, 1, 2, 3][case % 4] };
            let dilation = if linear || stuffed {
                1
            } else {
                1 + case % 3 / 2
            };
            let one_d = !linear && case % 6 == 4;
            let icg = if long {
                120 + (rng.next() % 9) as usize
            } else {
                1 + (rng.next() % 5) as usize
            };
            let (k_h, k_w) = match (linear, long, one_d) {
                (true, ..) => (1, 1),
                (_, true, _) => (3, 3),
                (_, _, true) => (1, k),
                _ => (k, k),
            };
            let g = ConvGeometry {
                in_c: icg * groups,
                in_h: if linear || one_d {
                    1
                } else {
                    1 + (rng.next() % 12) as usize
                },
                in_w: if linear {
                    1
                } else {
                    1 + (rng.next() % 80) as usize
                },
                out_c: groups * (1 + (rng.next() % 4) as usize),
                k_h,
                k_w,
                stride: if linear || stuffed { 1 } else { stride },
                pad_h: if linear || one_d { 0 } else { pad },
                pad_w: if linear { 0 } else { pad },
                dilation,
                groups,
                up,
                out_pad: if stuffed { case % up } else { 0 },
            };
            let (Some(oh), Some(ow)) = (g.out_h(), g.out_w()) else {
                continue;
            };
            let x: Vec<i8> = (0..g.in_c * g.in_h * g.in_w).map(|_| rng.i8()).collect();
            let w: Vec<u8> = (0..g.out_c * g.taps())
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
