//! GroupNorm, LayerNorm and RMSNorm with exact integer statistics.
//!
//! LayerNorm over the last axis of `[rows, n]` is the GroupNorm of `rows * n` channels of one
//! value in `rows` groups, with the affine parameters repeating every `n` channels
//! ([`GroupNormGeometry::layer`]); RMSNorm is LayerNorm without the centring (`s1` taken as 0
//! below).
//!
//! Per group of `n` values with `d = q - z`, the sums `s1 = sum(d)` and `s2 = sum(d^2)` are
//! exact in `i64`, and so are `v = n s2 - s1^2 = n^2 var_q` and every centred value
//! `u = n d - s1 = n (d - mean_q)`. Since `(x - mean) / sqrt(var + eps) = u / sqrt(v + c)`
//! with `c = eps n^2 / s_x^2`, the input scale only enters through `c`, and the kernel runs
//! these `f32` operations, each once and in this order:
//!
//! ```text
//! inv = 1 / sqrt(f32(v) + c)                  per group (correctly rounded sqrt)
//! a_c = inv * (gamma_c / s_y)                 per channel
//! y   = saturate(round_half_even(f32(u) * a_c + beta_c / s_y) + z_y)
//! ```
//!
//! The int8 ONNX writes the same sequence as ONNX ops (integer ReduceSum, Sqrt, Div, Mul, Add,
//! QuantizeLinear with scale 1), with [`variance_offset`] and [`affine`] as its constants, so
//! tract and the device compute identical bits.

use crate::kernels::quant::{QParams, read_f32, round_saturate};
use crate::math::sqrt;

/// Shape of a GroupNorm over one sample `[channels, plane]`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GroupNormGeometry {
    /// Channels.
    pub channels: usize,
    /// Elements per channel (`h * w`).
    pub plane: usize,
    /// Groups; divides `channels`.
    pub groups: usize,
    /// Added to the variance.
    pub eps: f32,
    /// The affine parameters repeat every `period` channels (`channels` for GroupNorm).
    pub period: usize,
    /// Subtract the mean (false: RMSNorm).
    pub center: bool,
}

impl GroupNormGeometry {
    /// GroupNorm of `[channels, plane]` in `groups` groups.
    pub fn group(channels: usize, plane: usize, groups: usize, eps: f32) -> Self {
        Self {
            channels,
            plane,
            groups,
            eps,
            period: channels,
            center: true,
        }
    }

    /// LayerNorm (`center`) or RMSNorm over the last axis, `n` values, of `len` values.
    pub fn layer(len: usize, n: usize, eps: f32, center: bool) -> Self {
        Self {
            channels: len,
            plane: 1,
            groups: len.checked_div(n).unwrap_or(0),
            eps,
            period: n,
            center,
        }
    }

    /// Values per group (`channels / groups * plane`), 0 without groups.
    pub fn group_len(&self) -> usize {
        self.channels
            .checked_div(self.groups)
            .map_or(0, |c| c * self.plane)
    }
}

/// `c = eps n^2 / s_x^2`: the variance epsilon in units of the integer statistic
/// `n s2 - s1^2`, for groups of `n` values of input scale `s_x`.
pub fn variance_offset(eps: f32, n: usize, s_x: f32) -> f32 {
    let n = n as f32;
    n * n * eps / (s_x * s_x)
}

/// The per-channel affine map in output quantization units: `(gamma / s_y, beta / s_y)`.
pub fn affine(gamma: f32, beta: f32, s_y: f32) -> (f32, f32) {
    (gamma / s_y, beta / s_y)
}

/// `y = Q((x - mean_g) / sqrt(var_g + eps) * gamma_c + beta_c)`; `gamma` and `beta` are
/// `channels` little-endian `f32` each.
pub fn group_norm(
    x: &[i8],
    qx: QParams,
    g: &GroupNormGeometry,
    gamma: &[u8],
    beta: &[u8],
    qy: QParams,
    y: &mut [i8],
) {
    let len = g.group_len();
    if len == 0 {
        return;
    }
    let n = len as i64;
    let c = variance_offset(g.eps, len, qx.scale);
    let zx = i64::from(qx.zero_point);
    let per_group = g.channels / g.groups.max(1);
    for (gi, (x_g, y_g)) in x.chunks_exact(len).zip(y.chunks_exact_mut(len)).enumerate() {
        // In i32 over chunks of 2^15 values (|d| <= 255, so a chunk's sum of squares stays
        // below 2^31), then in i64: exact, and 32-bit arithmetic on the device.
        let (mut s1, mut s2) = (0i64, 0i64);
        let z32 = qx.zero_point;
        for chunk in x_g.chunks(1 << 15) {
            let (mut c1, mut c2) = (0i32, 0i32);
            for v in chunk {
                let d = i32::from(*v) - z32;
                c1 += d;
                c2 += d * d;
            }
            s1 += i64::from(c1);
            s2 += i64::from(c2);
        }
        if !g.center {
            s1 = 0;
        }
        let inv = 1.0 / sqrt((n * s2 - s1 * s1) as f32 + c);
        // u = n (q - z) - s1 = n q - (n z + s1), in i32: exact for groups of up to 4 M values
        // (|u| <= 2 n 255); wrapping beyond, so an absurd pack cannot make it panic.
        let n32 = len as i32;
        let offset = (n * zx + s1) as i32;
        for (ci, (x_c, y_c)) in x_g
            .chunks_exact(g.plane)
            .zip(y_g.chunks_exact_mut(g.plane))
            .enumerate()
        {
            let ch = (gi * per_group + ci) % g.period.max(1);
            let (gs, bs) = affine(read_f32(gamma, ch), read_f32(beta, ch), qy.scale);
            let a = inv * gs;
            for (o, v) in y_c.iter_mut().zip(x_c) {
                let u = n32.wrapping_mul(i32::from(*v)).wrapping_sub(offset) as f32;
                *o = round_saturate(u * a + bs, qy.zero_point);
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

    #[test]
    fn matches_float_group_norm_within_one_lsb() {
        let mut rng = Lcg(5);
        let mut hist = [0usize; 3];
        for (channels, plane, groups) in [(8, 16, 4), (16, 64, 8), (4, 1, 1), (6, 9, 3)] {
            let g = GroupNormGeometry::group(channels, plane, groups, 1e-5);
            let qx = QParams {
                scale: 0.03,
                zero_point: rng.i8() as i32 / 2,
            };
            let qy = QParams {
                scale: 0.025,
                zero_point: rng.i8() as i32 / 4,
            };
            let x: Vec<i8> = (0..channels * plane).map(|_| rng.i8() / 2 + 10).collect();
            let gamma: Vec<f32> = (0..channels).map(|_| 0.5 + rng.unit()).collect();
            let beta: Vec<f32> = (0..channels).map(|_| rng.unit() - 0.5).collect();
            let mut y = std::vec![0i8; x.len()];
            group_norm(
                &x,
                qx,
                &g,
                &scales_bytes(&gamma),
                &scales_bytes(&beta),
                qy,
                &mut y,
            );
            let per = channels / groups * plane;
            let mut expect = Vec::new();
            for grp in x.chunks(per).enumerate() {
                let vals: Vec<f64> = grp.1.iter().map(|v| qx.dequantize(*v) as f64).collect();
                let mean = vals.iter().sum::<f64>() / per as f64;
                let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / per as f64;
                for (i, v) in vals.iter().enumerate() {
                    let c = grp.0 * (channels / groups) + i / plane;
                    let out = (v - mean) / (var + 1e-5).sqrt() * gamma[c] as f64 + beta[c] as f64;
                    expect.push(qy.quantize(out as f32));
                }
            }
            assert_within_one_lsb(&y, &expect, &mut hist);
        }
        std::println!("group norm vs float: |diff| histogram 0/1/2+ = {hist:?}");
    }

    #[test]
    fn layer_and_rms_norm_match_float_within_one_lsb() {
        let mut rng = Lcg(9);
        let mut hist = [0usize; 3];
        for (rows, n, center) in [
            (16, 32, true),
            (1, 64, true),
            (5, 24, false),
            (1, 16, false),
        ] {
            let g = GroupNormGeometry::layer(rows * n, n, 1e-5, center);
            let (qx, qy) = (
                QParams {
                    scale: 0.04,
                    zero_point: rng.i8() as i32 / 2,
                },
                QParams {
                    scale: 0.03,
                    zero_point: rng.i8() as i32 / 4,
                },
            );
            let x: Vec<i8> = (0..rows * n).map(|_| rng.i8() / 2 + 5).collect();
            let gamma: Vec<f32> = (0..n).map(|_| 0.5 + rng.unit()).collect();
            let beta: Vec<f32> = (0..n).map(|_| rng.unit() - 0.5).collect();
            let mut y = std::vec![0i8; x.len()];
            let (gb, bb) = (scales_bytes(&gamma), scales_bytes(&beta));
            group_norm(&x, qx, &g, &gb, &bb, qy, &mut y);
            let mut expect = Vec::new();
            for row in x.chunks(n) {
                let vals: Vec<f64> = row.iter().map(|v| f64::from(qx.dequantize(*v))).collect();
                let mean = if center {
                    vals.iter().sum::<f64>() / n as f64
                } else {
                    0.0
                };
                let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
                for (i, v) in vals.iter().enumerate() {
                    let out =
                        (v - mean) / (var + 1e-5).sqrt() * f64::from(gamma[i]) + f64::from(beta[i]);
                    expect.push(qy.quantize(out as f32));
                }
            }
            assert_within_one_lsb(&y, &expect, &mut hist);
        }
        assert!(hist[0] > 10 * hist[1], "{hist:?}");
    }
}
