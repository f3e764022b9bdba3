//! Float evaluation of a [`FloatGraph`], keeping every intermediate tensor (for calibration
//! and error reports).

use crate::ir::{FOp, FloatGraph};
use edgediff_runtime::kernels::reference::{ConvGeometry, MatMulGeometry, row_vector};

/// Every tensor's value for sample `x` at sampling step `step` with class `label`
/// (`num_classes` = the null label).
pub fn evaluate(g: &FloatGraph, x: &[f32], step: usize, label: usize) -> Vec<Vec<f32>> {
    evaluate_with(g, x, step, label, &mut |_, _| {})
}

/// [`evaluate`], calling `hook(tensor, values)` on the input and on every op's output before
/// it is used (fake quantization rounds values to a tensor's int8 grid there).
pub fn evaluate_with(
    g: &FloatGraph,
    x: &[f32],
    step: usize,
    label: usize,
    hook: &mut dyn FnMut(usize, &mut [f32]),
) -> Vec<Vec<f32>> {
    let mut vals: Vec<Vec<f32>> = vec![Vec::new(); g.tensors.len()];
    vals[g.input] = x.to_vec();
    hook(g.input, &mut vals[g.input]);
    for op in &g.ops {
        let out = op.output();
        let v = match op {
            FOp::Conv {
                input,
                weights,
                bias,
                spec,
                relu,
                ..
            } => {
                let g = spec.on(g.tensors[*input].shape, g.tensors[out].shape[0]);
                let mut y = conv(&vals[*input], &g, weights, bias);
                if *relu {
                    y.iter_mut().for_each(|v| *v = v.max(0.0));
                }
                y
            }
            FOp::Add { a, b, .. } | FOp::Mul { a, b, .. } => {
                let (va, vb) = (&vals[*a], &vals[*b]);
                // `b`: same length, one value per channel, or (stored `[1, 1, n]`) a vector
                // repeated over rows of `n`.
                let plane = va.len() / vb.len().max(1);
                let columns = row_vector(g.tensors[*b].shape).is_some();
                let at = |i: usize| {
                    if columns {
                        vb[i % vb.len()]
                    } else {
                        vb[i / plane]
                    }
                };
                let mul = matches!(op, FOp::Mul { .. });
                va.iter()
                    .enumerate()
                    .map(|(i, x)| if mul { x * at(i) } else { x + at(i) })
                    .collect()
            }
            FOp::Concat { a, b, .. } => {
                let mut y = vals[*a].clone();
                y.extend_from_slice(&vals[*b]);
                y
            }
            FOp::Upsample { input, factor, .. } => {
                let [c, h, w] = g.tensors[*input].shape;
                let [fh, fw] = *factor;
                let xin = &vals[*input];
                let mut y = Vec::with_capacity(c * h * w * fh * fw);
                for ci in 0..c {
                    for oy in 0..h * fh {
                        for ox in 0..w * fw {
                            y.push(xin[(ci * h + oy / fh) * w + ox / fw]);
                        }
                    }
                }
                y
            }
            FOp::Act { input, act, .. } => vals[*input]
                .iter()
                .map(|v| act.apply(f64::from(*v)) as f32)
                .collect(),
            FOp::GroupNorm {
                input,
                groups,
                gamma,
                beta,
                eps,
                ..
            } => {
                let [c, h, w] = g.tensors[*input].shape;
                let xin = &vals[*input];
                let per = c / groups * h * w;
                let mut y = Vec::with_capacity(xin.len());
                for (gi, grp) in xin.chunks(per).enumerate() {
                    let n = per as f64;
                    let mean = grp.iter().map(|v| f64::from(*v)).sum::<f64>() / n;
                    let var = grp
                        .iter()
                        .map(|v| (f64::from(*v) - mean).powi(2))
                        .sum::<f64>()
                        / n;
                    let inv = 1.0 / (var + f64::from(*eps)).sqrt();
                    for (i, v) in grp.iter().enumerate() {
                        let ch = gi * (c / groups) + i / (h * w);
                        y.push(
                            ((f64::from(*v) - mean) * inv * f64::from(gamma[ch])
                                + f64::from(beta[ch])) as f32,
                        );
                    }
                }
                y
            }
            FOp::LayerNorm {
                input,
                n,
                gamma,
                beta,
                eps,
                center,
                ..
            } => layer_norm(&vals[*input], *n, (gamma, beta), *eps, *center),
            FOp::Move { input, how, .. } => {
                let mut y = vec![0.0; g.tensors[out].len()];
                how.apply(&vals[*input], &mut y);
                y
            }
            FOp::MatMul { a, b, geometry, .. } => matmul(&vals[*a], &vals[*b], geometry),
            FOp::Softmax { input, n, .. } => softmax(&vals[*input], *n),
            FOp::Embed { table, by, .. } => {
                let n = g.tensors[out].len();
                let row = by.row(step, label as u16, g.num_classes);
                table
                    .get(row * n..(row + 1) * n)
                    .map(<[f32]>::to_vec)
                    .unwrap_or_else(|| vec![0.0; n])
            }
        };
        vals[out] = v;
        hook(out, &mut vals[out]);
    }
    vals
}

/// A conv of geometry `g` in `f64` (the device's own tap rule, [`ConvGeometry::row`] and
/// [`ConvGeometry::col`]).
fn conv(x: &[f32], g: &ConvGeometry, weights: &[f32], bias: &[f32]) -> Vec<f32> {
    let (oh, ow) = (g.out_h().unwrap_or(0), g.out_w().unwrap_or(0));
    let (icg, ocg) = (g.group_in(), g.out_c / g.groups.max(1));
    let mut y = Vec::with_capacity(g.out_c * oh * ow);
    for o in 0..g.out_c {
        let ic0 = o / ocg.max(1) * icg;
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = f64::from(bias[o]);
                for ic in 0..icg {
                    for ky in 0..g.k_h {
                        let Some(iy) = g.row(oy, ky) else {
                            continue;
                        };
                        for kx in 0..g.k_w {
                            let Some(ix) = g.col(ox, kx) else {
                                continue;
                            };
                            acc += f64::from(x[((ic0 + ic) * g.in_h + iy) * g.in_w + ix])
                                * f64::from(weights[((o * icg + ic) * g.k_h + ky) * g.k_w + kx]);
                        }
                    }
                }
                y.push(acc as f32);
            }
        }
    }
    y
}

/// `[b, m, k] x [b, k, n]`, accumulated in `f64`.
fn matmul(a: &[f32], b: &[f32], g: &MatMulGeometry) -> Vec<f32> {
    let &MatMulGeometry { batch, m, k, n } = g;
    let mut y = Vec::with_capacity(batch * m * n);
    for bt in 0..batch {
        for i in 0..m {
            for j in 0..n {
                let acc: f64 = (0..k)
                    .map(|t| {
                        f64::from(a[(bt * m + i) * k + t]) * f64::from(b[(bt * k + t) * n + j])
                    })
                    .sum();
                y.push(acc as f32);
            }
        }
    }
    y
}

/// Softmax over rows of `n`, in `f64`.
fn softmax(x: &[f32], n: usize) -> Vec<f32> {
    let mut y = Vec::with_capacity(x.len());
    for row in x.chunks(n.max(1)) {
        let max = row.iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v));
        let e: Vec<f64> = row.iter().map(|v| f64::from(v - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        y.extend(e.iter().map(|v| (v / sum) as f32));
    }
    y
}

/// LayerNorm (RMSNorm without `center`) over rows of `n`, in `f64`.
fn layer_norm(
    x: &[f32],
    n: usize,
    (gamma, beta): (&[f32], &[f32]),
    eps: f32,
    center: bool,
) -> Vec<f32> {
    let mut y = Vec::with_capacity(x.len());
    for row in x.chunks(n.max(1)) {
        let v: Vec<f64> = row.iter().map(|x| f64::from(*x)).collect();
        let mean = if center {
            v.iter().sum::<f64>() / v.len() as f64
        } else {
            0.0
        };
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
        let inv = 1.0 / (var + f64::from(eps)).sqrt();
        for (i, x) in v.iter().enumerate() {
            y.push(((x - mean) * inv * f64::from(gamma[i]) + f64::from(beta[i])) as f32);
        }
    }
    y
}
