//! GroupNorm with exact integer statistics.
//!
//! Per group, `s1 = sum(q - z)` and `s2 = sum((q - z)^2)` are exact in `i64`, and so is
//! `n s2 - s1^2 = n^2 var_q`. Only the normalisation `1 / sqrt(var + eps)` and the per-channel
//! affine map run in `f32`.

use crate::kernels::quant::{QParams, read_f32, saturate};
use crate::math::{round_ties_even, sqrt};

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
    let Some(per_group) = g.channels.checked_div(g.groups) else {
        return;
    };
    let len = per_group * g.plane;
    if len == 0 {
        return;
    }
    let n = len as i64;
    for (gi, (x_g, y_g)) in x.chunks_exact(len).zip(y.chunks_exact_mut(len)).enumerate() {
        let (mut s1, mut s2) = (0i64, 0i64);
        for v in x_g {
            let d = i64::from(*v) - i64::from(qx.zero_point);
            s1 += d;
            s2 += d * d;
        }
        let mean_q = s1 as f32 / len as f32;
        let var_q = (n * s2 - s1 * s1) as f32 / (len as f32 * len as f32);
        let inv_std = 1.0 / sqrt(var_q * qx.scale * qx.scale + g.eps);
        for (ci, (x_c, y_c)) in x_g
            .chunks_exact(g.plane)
            .zip(y_g.chunks_exact_mut(g.plane))
            .enumerate()
        {
            let c = gi * per_group + ci;
            let a = read_f32(gamma, c) * inv_std * qx.scale / qy.scale;
            let b = read_f32(beta, c) / qy.scale;
            for (o, v) in y_c.iter_mut().zip(x_c) {
                let t = (i32::from(*v) - qx.zero_point) as f32 - mean_q;
                *o = saturate(round_ties_even(a * t + b) + qy.zero_point as f32);
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
            let g = GroupNormGeometry {
                channels,
                plane,
                groups,
                eps: 1e-5,
            };
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
}
