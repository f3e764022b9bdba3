//! Conv2d (and Linear, a 1x1 conv on `[K, 1, 1]`; and Conv1d, a `1 x k` conv on `[c, 1, L]`):
//! int8 x int8 -> int32, requantized per output channel.

use crate::kernels::quant::{QParams, Rounding, multiplier, read_f32, read_i32};

/// What a conv does, apart from its tensor shapes: kernel, stride, zero padding per axis,
/// dilation, channel groups, and the input stuffing of a transposed conv.
///
/// A transposed convolution is the convolution of the same input read with `up - 1` zeros
/// between its rows and between its columns (`up` = the transposed conv's stride), padded by
/// `pad` and, at the bottom and right, `pad + out_pad`, by the flipped kernel with stride 1
/// ([`ConvSpec::stuffed`]). Ordinary convs have `up = 1` and `out_pad = 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConvSpec {
    /// `[k_h, k_w]`.
    pub kernel: [usize; 2],
    /// Stride (both axes).
    pub stride: usize,
    /// Zero padding `[top and bottom, left and right]` (in real values).
    pub pad: [usize; 2],
    /// Distance between kernel taps (both axes; 1: dense).
    pub dilation: usize,
    /// Channel groups: output channel `o` reads input channels of group
    /// `o / (out_c / groups)` only (`in_c` for a depthwise conv).
    pub groups: usize,
    /// Input stuffing: the input is read with `up - 1` zeros between neighbours.
    pub up: usize,
    /// Extra padding at the bottom and right.
    pub out_pad: usize,
}

impl ConvSpec {
    /// A dense conv with kernel `[k_h, k_w]`, `stride` and padding `pad` on every side.
    pub const fn new([k_h, k_w]: [usize; 2], stride: usize, pad: usize) -> Self {
        Self {
            kernel: [k_h, k_w],
            stride,
            pad: [pad, pad],
            dilation: 1,
            groups: 1,
            up: 1,
            out_pad: 0,
        }
    }

    /// The convolution equivalent to a transposed conv (kernel `[k_h, k_w]`): over the input
    /// stuffed by `up` (the transposed conv's stride), stride 1, padding `pad` (the transposed
    /// conv's `k - 1 - padding`) and `pad + out_pad` at the end (its `output_padding`).
    pub const fn stuffed(kernel: [usize; 2], up: usize, pad: usize, out_pad: usize) -> Self {
        Self {
            up,
            out_pad,
            ..Self::new(kernel, 1, pad)
        }
    }

    /// The geometry of this conv on an input of shape `[c, h, w]` with `out_c` output channels.
    pub const fn on(&self, input: [usize; 3], out_c: usize) -> ConvGeometry {
        ConvGeometry {
            in_c: input[0],
            in_h: input[1],
            in_w: input[2],
            out_c,
            k_h: self.kernel[0],
            k_w: self.kernel[1],
            stride: self.stride,
            pad_h: self.pad[0],
            pad_w: self.pad[1],
            dilation: self.dilation,
            groups: self.groups,
            up: self.up,
            out_pad: self.out_pad,
        }
    }
}

/// Shape of a conv: input `[in_c, in_h, in_w]`, kernel `[out_c, in_c / groups, k_h, k_w]`,
/// and the rest of its [`ConvSpec`].
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
    /// Padding at the top and the bottom.
    pub pad_h: usize,
    /// Padding at the left and the right.
    pub pad_w: usize,
    /// Distance between kernel taps (both axes).
    pub dilation: usize,
    /// Channel groups.
    pub groups: usize,
    /// Input stuffing: the input is read with `up - 1` zeros between neighbours.
    pub up: usize,
    /// Extra padding at the bottom and right.
    pub out_pad: usize,
}

impl ConvGeometry {
    /// The dense conv from an input of shape `[c, h, w]` to `out_c` channels with
    /// `[k_h, k_w, stride, pad]`.
    pub const fn new(input: [usize; 3], out_c: usize, [k_h, k_w, stride, pad]: [usize; 4]) -> Self {
        ConvSpec::new([k_h, k_w], stride, pad).on(input, out_c)
    }

    /// A Linear layer `[in_f] -> [out_f]`.
    pub const fn linear(in_f: usize, out_f: usize) -> Self {
        Self::new([in_f, 1, 1], out_f, [1, 1, 1, 0])
    }

    /// The conv apart from its shapes.
    pub const fn spec(&self) -> ConvSpec {
        ConvSpec {
            kernel: [self.k_h, self.k_w],
            stride: self.stride,
            pad: [self.pad_h, self.pad_w],
            dilation: self.dilation,
            groups: self.groups,
            up: self.up,
            out_pad: self.out_pad,
        }
    }

    /// Input channels per group (the weights' second axis), 0 when `groups` does not divide
    /// both channel counts.
    pub const fn group_in(&self) -> usize {
        if self.groups == 0
            || !self.in_c.is_multiple_of(self.groups)
            || !self.out_c.is_multiple_of(self.groups)
        {
            0
        } else {
            self.in_c / self.groups
        }
    }

    /// Weights per output channel: `in_c / groups * k_h * k_w` (saturating).
    pub const fn taps(&self) -> usize {
        self.group_in()
            .saturating_mul(self.k_h)
            .saturating_mul(self.k_w)
    }

    /// Output height, or `None` when the kernel does not fit.
    pub const fn out_h(&self) -> Option<usize> {
        self.out_dim(self.in_h, self.k_h, self.pad_h)
    }

    /// Output width, or `None` when the kernel does not fit.
    pub const fn out_w(&self) -> Option<usize> {
        self.out_dim(self.in_w, self.k_w, self.pad_w)
    }

    const fn out_dim(&self, input: usize, k: usize, pad: usize) -> Option<usize> {
        if self.stride == 0 || k == 0 || self.up == 0 || self.dilation == 0 || input == 0 {
            return None;
        }
        // Checked: the sizes come from untrusted packs, and usize has 32 bits on the device.
        let Some(stuffed) = (input - 1).checked_mul(self.up) else {
            return None;
        };
        let Some(padded) = stuffed.checked_add(1 + 2 * pad + self.out_pad) else {
            return None;
        };
        let Some(span) = (k - 1).checked_mul(self.dilation) else {
            return None;
        };
        if padded <= span {
            None
        } else {
            Some((padded - span - 1) / self.stride + 1)
        }
    }

    /// The input row read by output row `oy` at kernel row `ky`, `None` in the padding and
    /// between stuffed values.
    #[inline]
    pub const fn row(&self, oy: usize, ky: usize) -> Option<usize> {
        self.source(oy, ky, self.pad_h, self.in_h)
    }

    /// The input column read by output column `ox` at kernel column `kx` (see [`Self::row`]).
    #[inline]
    pub const fn col(&self, ox: usize, kx: usize) -> Option<usize> {
        self.source(ox, kx, self.pad_w, self.in_w)
    }

    #[inline]
    const fn source(&self, o: usize, k: usize, pad: usize, size: usize) -> Option<usize> {
        let v = (o * self.stride + k * self.dilation).wrapping_sub(pad);
        if self.up > 1 && !v.is_multiple_of(self.up) {
            return None;
        }
        let i = if self.up > 1 { v / self.up } else { v };
        if i < size { Some(i) } else { None }
    }

    /// Multiply-accumulates per evaluation (padding taps included).
    pub const fn macs(&self) -> usize {
        match (self.out_h(), self.out_w()) {
            (Some(h), Some(w)) => self.out_c * h * w * self.taps(),
            _ => 0,
        }
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
    let taps = g.taps();
    let (icg, ocg) = (g.group_in(), g.out_c / g.groups.max(1));
    if taps == 0 {
        return;
    }
    let lo = if relu { qy.zero_point } else { -128 } as i8;
    let rounding = Rounding::of_layer(qx, p.w_scales, g.out_c, qy);
    let mut outputs = y.chunks_exact_mut(out_h * out_w);
    for (oc, w_oc) in p.weights.chunks_exact(taps).take(g.out_c).enumerate() {
        let Some(y_oc) = outputs.next() else { return };
        let m = multiplier(qx.scale, read_f32(p.w_scales, oc), qy.scale);
        let bias = read_i32(p.bias, oc);
        let ic0 = oc / ocg * icg;
        for (oy, y_row) in y_oc.chunks_exact_mut(out_w).enumerate() {
            for (ox, out) in y_row.iter_mut().enumerate() {
                let mut acc = bias;
                for (ic, w_ic) in w_oc.chunks_exact(g.k_h * g.k_w).enumerate() {
                    for (ky, w_row) in w_ic.chunks_exact(g.k_w).enumerate() {
                        let Some(iy) = g.row(oy, ky) else {
                            continue; // padding or stuffing: x - z_x = 0
                        };
                        for (kx, &w) in w_row.iter().enumerate() {
                            let Some(ix) = g.col(ox, kx) else {
                                continue;
                            };
                            let xv = x.get(((ic0 + ic) * g.in_h + iy) * g.in_w + ix).copied();
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
    use std::vec;
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
                    let icg = g.group_in();
                    let ic0 = oc / (g.out_c / g.groups) * icg;
                    for ic in 0..icg {
                        for ky in 0..g.k_h {
                            for kx in 0..g.k_w {
                                let iy =
                                    (oy * g.stride + ky * g.dilation) as isize - g.pad_h as isize;
                                let ix =
                                    (ox * g.stride + kx * g.dilation) as isize - g.pad_w as isize;
                                if iy < 0
                                    || ix < 0
                                    || iy >= g.in_h as isize
                                    || ix >= g.in_w as isize
                                {
                                    continue;
                                }
                                let xv = qx.dequantize(
                                    x[((ic0 + ic) * g.in_h + iy as usize) * g.in_w + ix as usize],
                                ) as f64;
                                let wv = w[((oc * icg + ic) * g.k_h + ky) * g.k_w + kx] as f64
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

    /// A transposed conv by its definition: every input value scattered through the kernel
    /// `w_t[i, o, y, x]` to output `(iy s - p + y, ix s - p + x)`.
    #[test]
    fn stuffed_conv_is_the_transposed_conv() {
        let mut rng = Lcg(23);
        let mut hist = [0usize; 3];
        for (k, s, p, op) in [(4, 2, 1, 0), (2, 2, 0, 0), (3, 2, 1, 1), (3, 3, 0, 2)] {
            let (ic, oc, h, w) = (3, 4, 3, 5);
            let g = ConvSpec::stuffed([k, k], s, k - 1 - p, op).on([ic, h, w], oc);
            let (oh, ow) = (g.out_h().unwrap(), g.out_w().unwrap());
            assert_eq!(
                (oh, ow),
                ((h - 1) * s + k + op - 2 * p, (w - 1) * s + k + op - 2 * p)
            );
            let x: Vec<i8> = (0..ic * h * w).map(|_| rng.i8()).collect();
            // PyTorch's layout [in_c, out_c, k, k], and the flipped [out_c, in_c, k, k].
            let w_t: Vec<i8> = (0..ic * oc * k * k).map(|_| rng.i8().max(-127)).collect();
            let mut flipped = vec![0u8; w_t.len()];
            for (i, o, y, x_) in (0..ic).flat_map(|i| {
                (0..oc)
                    .flat_map(move |o| (0..k).flat_map(move |y| (0..k).map(move |x| (i, o, y, x))))
            }) {
                flipped[((o * ic + i) * k + (k - 1 - y)) * k + (k - 1 - x_)] =
                    w_t[((i * oc + o) * k + y) * k + x_] as u8;
            }
            let s_w: Vec<f32> = (0..oc).map(|_| 0.004 + rng.unit() * 0.01).collect();
            let (qx, qy) = (
                QParams {
                    scale: 0.03,
                    zero_point: -5,
                },
                QParams {
                    scale: 0.05,
                    zero_point: 7,
                },
            );
            let mut want = vec![0f64; oc * oh * ow];
            for i in 0..ic {
                for iy in 0..h {
                    for ix in 0..w {
                        let xv = f64::from(qx.dequantize(x[(i * h + iy) * w + ix]));
                        for o in 0..oc {
                            for y in 0..k {
                                for x_ in 0..k {
                                    let (oy, ox) = (
                                        (iy * s + y) as isize - p as isize,
                                        (ix * s + x_) as isize - p as isize,
                                    );
                                    if oy < 0 || ox < 0 || oy >= oh as isize || ox >= ow as isize {
                                        continue;
                                    }
                                    let wv = f64::from(w_t[((i * oc + o) * k + y) * k + x_])
                                        * f64::from(s_w[o]);
                                    want[(o * oh + oy as usize) * ow + ox as usize] += xv * wv;
                                }
                            }
                        }
                    }
                }
            }
            let want: Vec<i8> = want.iter().map(|v| qy.quantize(*v as f32)).collect();
            let sw = scales_bytes(&s_w);
            let bias = vec![0u8; 4 * oc];
            let params = DenseParams {
                weights: &flipped,
                bias: &bias,
                w_scales: &sw,
            };
            let mut y = vec![0i8; oc * oh * ow];
            conv2d(&x, qx, &params, &g, qy, false, &mut y);
            assert_within_one_lsb(&y, &want, &mut hist);
        }
        assert!(hist[0] > 10 * hist[1], "{hist:?}");
    }

    #[test]
    fn conv_and_linear_match_float_within_one_lsb() {
        let mut rng = Lcg(17);
        let shapes = [
            ConvGeometry::linear(2, 16),
            ConvGeometry::linear(64, 10),
            ConvGeometry::new([3, 8, 8], 4, [3, 3, 1, 1]),
            ConvGeometry::new([4, 8, 8], 8, [3, 3, 2, 1]),
            ConvGeometry::new([8, 4, 4], 4, [1, 1, 1, 0]),
            ConvGeometry::new([2, 5, 7], 3, [1, 1, 2, 0]),
            // Depthwise, grouped, dilated, and a Conv1d on [c, 1, L].
            ConvSpec {
                groups: 6,
                ..ConvSpec::new([3, 3], 1, 1)
            }
            .on([6, 6, 6], 6),
            ConvSpec {
                groups: 2,
                dilation: 2,
                ..ConvSpec::new([3, 3], 1, 2)
            }
            .on([4, 7, 7], 6),
            ConvSpec {
                pad: [0, 2],
                ..ConvSpec::new([1, 5], 2, 0)
            }
            .on([3, 1, 17], 4),
        ];
        let mut hist = [0usize; 3];
        for g in shapes {
            for relu in [false, true] {
                let x: Vec<i8> = (0..g.in_c * g.in_h * g.in_w).map(|_| rng.i8()).collect();
                let w: Vec<i8> = (0..g.out_c * g.taps())
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
