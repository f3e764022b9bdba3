//! Conv2d (and Linear, a 1x1 conv on `[K, 1, 1]`): int8 x int8 -> int32, requantized per output
//! channel.

use crate::kernels::quant::{QParams, Rounding, multiplier, read_f32, read_i32};

/// Shape of a conv: input `[in_c, in_h, in_w]`, kernel `[out_c, in_c, k_h, k_w]`,
/// symmetric zero padding `pad` (in real values) and `stride`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConvGeometry {
    /// Input channels.
    pub in_c: usize,
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Output channels.
    pub out_c: usize,
    /// Kernel height.
    pub k_h: usize,
    /// Kernel width.
    pub k_w: usize,
    /// Stride (both axes).
    pub stride: usize,
    /// Padding (both axes, both sides).
    pub pad: usize,
}

impl ConvGeometry {
    /// The conv from an input of shape `[c, h, w]` to `out_c` channels with
    /// `[k_h, k_w, stride, pad]`.
    pub const fn new(input: [usize; 3], out_c: usize, [k_h, k_w, stride, pad]: [usize; 4]) -> Self {
        Self {
            in_c: input[0],
            in_h: input[1],
            in_w: input[2],
            out_c,
            k_h,
            k_w,
            stride,
            pad,
        }
    }

    /// A Linear layer `[in_f] -> [out_f]`.
    pub const fn linear(in_f: usize, out_f: usize) -> Self {
        Self {
            in_c: in_f,
            in_h: 1,
            in_w: 1,
            out_c: out_f,
            k_h: 1,
            k_w: 1,
            stride: 1,
            pad: 0,
        }
    }

    /// Output height, or `None` when the kernel does not fit.
    pub const fn out_h(&self) -> Option<usize> {
        out_dim(self.in_h, self.k_h, self.stride, self.pad)
    }

    /// Output width, or `None` when the kernel does not fit.
    pub const fn out_w(&self) -> Option<usize> {
        out_dim(self.in_w, self.k_w, self.stride, self.pad)
    }

    /// Multiply-accumulates per evaluation (padding taps included).
    pub const fn macs(&self) -> usize {
        match (self.out_h(), self.out_w()) {
            (Some(h), Some(w)) => self.out_c * h * w * self.in_c * self.k_h * self.k_w,
            _ => 0,
        }
    }
}

const fn out_dim(input: usize, k: usize, stride: usize, pad: usize) -> Option<usize> {
    let padded = input + 2 * pad;
    if stride == 0 || k == 0 || padded < k {
        None
    } else {
        Some((padded - k) / stride + 1)
    }
}

/// Weights, bias and weight scales of a conv or linear layer, as stored in a pack.
#[derive(Clone, Copy, Debug)]
pub struct DenseParams<'a> {
    /// int8 weights `[out_c, in_c, k_h, k_w]` (bytes are two's-complement `i8`).
    pub weights: &'a [u8],
    /// `out_c` little-endian `i32` biases, scale `s_x * s_w[c]`.
    pub bias: &'a [u8],
    /// `out_c` little-endian `f32` weight scales.
    pub w_scales: &'a [u8],
}

/// `y = requantize(conv(x - z_x, w) + bias)`, with an optional fused ReLU (clamp at `z_y`).
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
    let rounding = Rounding::of_layer(qx, p.w_scales, g.out_c, qy);
    let mut outputs = y.chunks_exact_mut(out_h * out_w);
    for (oc, w_oc) in p.weights.chunks_exact(taps).take(g.out_c).enumerate() {
        let Some(y_oc) = outputs.next() else { return };
        let m = multiplier(qx.scale, read_f32(p.w_scales, oc), qy.scale);
        let bias = read_i32(p.bias, oc);
        for (oy, y_row) in y_oc.chunks_exact_mut(out_w).enumerate() {
            for (ox, out) in y_row.iter_mut().enumerate() {
                let mut acc = bias;
                for (ic, w_ic) in w_oc.chunks_exact(g.k_h * g.k_w).enumerate() {
                    for (ky, w_row) in w_ic.chunks_exact(g.k_w).enumerate() {
                        let iy = (oy * g.stride + ky).wrapping_sub(g.pad);
                        if iy >= g.in_h {
                            continue; // padding: x - z_x = 0
                        }
                        for (kx, &w) in w_row.iter().enumerate() {
                            let ix = (ox * g.stride + kx).wrapping_sub(g.pad);
                            if ix >= g.in_w {
                                continue;
                            }
                            let xv = x.get((ic * g.in_h + iy) * g.in_w + ix).copied();
                            let xv = i32::from(xv.unwrap_or(qx.zero_point as i8));
                            acc += (xv - qx.zero_point) * i32::from(w as i8);
                        }
                    }
                }
                *out = rounding.requantize(acc, m, qy.zero_point).max(lo);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::reference::tests::{Lcg, assert_within_one_lsb, scales_bytes};
    extern crate std;
    use std::vec::Vec;

    /// Dequantize -> f64 conv -> quantize.
    #[allow(clippy::too_many_arguments)]
    fn float_conv(
        x: &[i8],
        qx: QParams,
        w: &[i8],
        s_w: &[f32],
        bias: &[i32],
        g: &ConvGeometry,
        qy: QParams,
        relu: bool,
    ) -> Vec<i8> {
        let (oh, ow) = (g.out_h().unwrap(), g.out_w().unwrap());
        let mut y = Vec::new();
        for oc in 0..g.out_c {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = bias[oc] as f64 * qx.scale as f64 * s_w[oc] as f64;
                    for ic in 0..g.in_c {
                        for ky in 0..g.k_h {
                            for kx in 0..g.k_w {
                                let iy = (oy * g.stride + ky) as isize - g.pad as isize;
                                let ix = (ox * g.stride + kx) as isize - g.pad as isize;
                                if iy < 0
                                    || ix < 0
                                    || iy >= g.in_h as isize
                                    || ix >= g.in_w as isize
                                {
                                    continue;
                                }
                                let xv = qx.dequantize(
                                    x[(ic * g.in_h + iy as usize) * g.in_w + ix as usize],
                                ) as f64;
                                let wv = w[((oc * g.in_c + ic) * g.k_h + ky) * g.k_w + kx] as f64
                                    * s_w[oc] as f64;
                                acc += xv * wv;
                            }
                        }
                    }
                    if relu {
                        acc = acc.max(0.0);
                    }
                    y.push(qy.quantize(acc as f32));
                }
            }
        }
        y
    }

    #[test]
    fn conv_and_linear_match_float_within_one_lsb() {
        let mut rng = Lcg(17);
        let shapes = [
            ConvGeometry::linear(2, 16),
            ConvGeometry::linear(64, 10),
            ConvGeometry {
                in_c: 3,
                in_h: 8,
                in_w: 8,
                out_c: 4,
                k_h: 3,
                k_w: 3,
                stride: 1,
                pad: 1,
            },
            ConvGeometry {
                in_c: 4,
                in_h: 8,
                in_w: 8,
                out_c: 8,
                k_h: 3,
                k_w: 3,
                stride: 2,
                pad: 1,
            },
            ConvGeometry {
                in_c: 8,
                in_h: 4,
                in_w: 4,
                out_c: 4,
                k_h: 1,
                k_w: 1,
                stride: 1,
                pad: 0,
            },
            ConvGeometry {
                in_c: 2,
                in_h: 5,
                in_w: 7,
                out_c: 3,
                k_h: 1,
                k_w: 1,
                stride: 2,
                pad: 0,
            },
        ];
        let mut hist = [0usize; 3];
        for g in shapes {
            for relu in [false, true] {
                let x: Vec<i8> = (0..g.in_c * g.in_h * g.in_w).map(|_| rng.i8()).collect();
                let w: Vec<i8> = (0..g.out_c * g.in_c * g.k_h * g.k_w)
                    .map(|_| rng.i8().max(-127))
                    .collect();
                let s_w: Vec<f32> = (0..g.out_c).map(|_| 0.002 + rng.unit() * 0.01).collect();
                let bias: Vec<i32> = (0..g.out_c).map(|_| rng.i8() as i32 * 300).collect();
                let qx = QParams {
                    scale: 0.02 + rng.unit() * 0.05,
                    zero_point: rng.i8() as i32 / 2,
                };
                let taps = (g.in_c * g.k_h * g.k_w) as f32;
                let qy = QParams {
                    scale: 0.01 * taps.sqrt() * (0.5 + rng.unit()),
                    zero_point: rng.i8() as i32 / 3,
                };
                let bias_bytes: Vec<u8> = bias.iter().flat_map(|b| b.to_le_bytes()).collect();
                let w_bytes: Vec<u8> = w.iter().map(|v| *v as u8).collect();
                let params = DenseParams {
                    weights: &w_bytes,
                    bias: &bias_bytes,
                    w_scales: &scales_bytes(&s_w),
                };
                let mut y = std::vec![0i8; g.out_c * g.out_h().unwrap() * g.out_w().unwrap()];
                conv2d(&x, qx, &params, &g, qy, relu, &mut y);
                let expect = float_conv(&x, qx, &w, &s_w, &bias, &g, qy, relu);
                assert_within_one_lsb(&y, &expect, &mut hist);
            }
        }
        std::println!("conv/linear vs float: |diff| histogram 0/1/2+ = {hist:?}");
    }
}
