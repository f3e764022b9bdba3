//! A straightforward float evaluation of a quantized graph: every op dequantizes its inputs,
//! computes in `f64` with the dequantized weights, and (optionally) quantizes its output. It
//! shares no code with the runtime's kernels, so it is an independent check of them.

use edgediff::compile::graph::{QGraph, QOp};
use edgediff_runtime::kernels::quant::QParams;

/// Float value of every tensor after evaluating `g` on sample `x` at step `step` with `label`.
/// With `quantize`, each op's output is rounded to its int8 grid (the reference for the
/// engine); without, the network runs in float (for calibration).
pub fn evaluate(g: &QGraph, x: &[f32], step: usize, label: usize, quantize: bool) -> Vec<Vec<f64>> {
    let row = if g.qparams.len() == 1 { 0 } else { step };
    let qp = |t: usize| -> QParams { g.qparams[row][g.tensors[t].qparam] };
    let round = |t: usize, v: f64| -> f64 {
        if quantize {
            let q = qp(t);
            q.dequantize(q.quantize(v as f32)) as f64
        } else {
            v
        }
    };
    let mut vals: Vec<Vec<f64>> = vec![Vec::new(); g.tensors.len()];
    vals[g.input] = x.iter().map(|v| round(g.input, *v as f64)).collect();
    for op in &g.ops {
        let out = op.output();
        let shape = g.tensors[out].shape;
        let v: Vec<f64> = match op {
            QOp::Conv {
                input,
                weights,
                bias,
                w_scales,
                relu,
                ..
            } => {
                let geo = g.conv_geometry(op).unwrap();
                let xin = &vals[*input];
                let s_x = qp(*input).scale as f64;
                let (oh, ow) = (geo.out_h().unwrap(), geo.out_w().unwrap());
                let mut y = Vec::with_capacity(geo.out_c * oh * ow);
                for oc in 0..geo.out_c {
                    let sw = w_scales[oc] as f64;
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let mut acc = bias[oc] as f64 * s_x * sw;
                            for ic in 0..geo.in_c {
                                for ky in 0..geo.k_h {
                                    for kx in 0..geo.k_w {
                                        let iy = (oy * geo.stride + ky) as isize - geo.pad as isize;
                                        let ix = (ox * geo.stride + kx) as isize - geo.pad as isize;
                                        if iy < 0
                                            || ix < 0
                                            || iy >= geo.in_h as isize
                                            || ix >= geo.in_w as isize
                                        {
                                            continue;
                                        }
                                        let xi = xin[(ic * geo.in_h + iy as usize) * geo.in_w
                                            + ix as usize];
                                        let w = weights
                                            [((oc * geo.in_c + ic) * geo.k_h + ky) * geo.k_w + kx];
                                        acc += xi * w as f64 * sw;
                                    }
                                }
                            }
                            y.push(if *relu { acc.max(0.0) } else { acc });
                        }
                    }
                }
                y
            }
            QOp::Add { a, b, .. } => {
                let (va, vb) = (&vals[*a], &vals[*b]);
                let plane = va.len() / vb.len();
                va.iter()
                    .enumerate()
                    .map(|(i, x)| x + vb[i / plane])
                    .collect()
            }
            QOp::Concat { a, b, .. } => {
                let mut y = vals[*a].iter().map(|v| round(out, *v)).collect::<Vec<_>>();
                y.extend(vals[*b].iter().map(|v| round(out, *v)));
                y
            }
            QOp::Upsample { input, factor, .. } => {
                let [c, h, w] = g.tensors[*input].shape;
                let xin = &vals[*input];
                let mut y = Vec::with_capacity(c * h * w * factor * factor);
                for ci in 0..c {
                    for oy in 0..h * factor {
                        for ox in 0..w * factor {
                            y.push(xin[(ci * h + oy / factor) * w + ox / factor]);
                        }
                    }
                }
                y
            }
            QOp::Lut { input, tables, .. } => {
                if quantize {
                    // The table is the definition of the quantized activation.
                    let (qi, qo) = (qp(*input), qp(out));
                    let t = &tables[row];
                    vals[*input]
                        .iter()
                        .map(|v| {
                            qo.dequantize(t[(qi.quantize(*v as f32) as i32 + 128) as usize]) as f64
                        })
                        .collect()
                } else {
                    vals[*input]
                        .iter()
                        .map(|v| v / (1.0 + (-v).exp()))
                        .collect()
                }
            }
            QOp::GroupNorm {
                input,
                groups,
                gamma,
                beta,
                eps,
                ..
            } => {
                let xin = &vals[*input];
                let per = xin.len() / groups;
                let plane = shape[1] * shape[2];
                let mut y = Vec::with_capacity(xin.len());
                for (gi, grp) in xin.chunks(per).enumerate() {
                    let mean = grp.iter().sum::<f64>() / per as f64;
                    let var = grp.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / per as f64;
                    for (i, v) in grp.iter().enumerate() {
                        let c = gi * (shape[0] / groups) + i / plane;
                        y.push(
                            (v - mean) / (var + *eps as f64).sqrt() * gamma[c] as f64
                                + beta[c] as f64,
                        );
                    }
                }
                y
            }
            QOp::Embed { table, by, .. } => {
                let n = g.tensors[out].len();
                let r = by.row(step, label as u16, g.num_classes);
                let q = qp(out);
                table[r * n..(r + 1) * n]
                    .iter()
                    .map(|v| q.dequantize(*v) as f64)
                    .collect()
            }
        };
        vals[out] = v.into_iter().map(|x| round(out, x)).collect();
    }
    vals
}

/// The int8 output of `g` by the float evaluation.
pub fn output_int8(g: &QGraph, x: &[f32], step: usize, label: usize) -> Vec<i8> {
    let row = if g.qparams.len() == 1 { 0 } else { step };
    let q = g.qparams[row][g.tensors[g.output].qparam];
    evaluate(g, x, step, label, true)[g.output]
        .iter()
        .map(|v| q.quantize(*v as f32))
        .collect()
}
