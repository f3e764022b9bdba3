//! `edgediff quantize`: timestep-aware post-training quantization (PTQ4DM / Q-Diffusion
//! style) of a [`FloatGraph`] into an int8 [`QGraph`].
//!
//! - [`calibrate`] runs the float network along real sampling trajectories and records every
//!   activation's range at every sampling step (min-max, or a percentile).
//! - [`to_qgraph`] quantizes: weights int8 symmetric per output channel, activations int8
//!   asymmetric per tensor (optionally one scale per sampling step, as in TDQ), bias int32
//!   with scale `s_x * s_w`.

pub mod calibrate;
pub mod report;

use crate::ir::{FOp, FloatGraph};
use crate::ir::{QGraph, QOp, QTensor};
use calibrate::Ranges;
use edgediff_runtime::kernels::quant::QParams;
use edgediff_runtime::kernels::reference::softmax;
use edgediff_runtime::math::round_ties_even;
use edgediff_runtime::pack::layout::EmbedIndex;

/// Asymmetric int8 parameters covering `[lo, hi]` (widened to include 0 so that 0 is exact).
pub fn activation_qparams(lo: f32, hi: f32) -> QParams {
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    let scale = ((hi - lo) / 255.0).max(1e-8);
    let zero_point = round_ties_even(-128.0 - lo / scale).clamp(-128.0, 127.0) as i32;
    QParams { scale, zero_point }
}

/// Symmetric per-output-channel int8 weights in [-127, 127] and their scales.
pub fn quantize_weights(w: &[f32], out_c: usize) -> (Vec<i8>, Vec<f32>) {
    let per = w.len() / out_c.max(1);
    let mut q = Vec::with_capacity(w.len());
    let mut scales = Vec::with_capacity(out_c);
    for row in w.chunks(per.max(1)).take(out_c) {
        let max = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let s = if max > 0.0 { max / 127.0 } else { 1.0 };
        scales.push(s);
        q.extend(
            row.iter()
                .map(|v| round_ties_even(v / s).clamp(-127.0, 127.0) as i8),
        );
    }
    (q, scales)
}

/// Tensors whose scale must be the same at every step: those read by a conv with a bias
/// (the scale enters the int32 bias, `b / (s_x s_w)`) and softmax inputs (the scale enters
/// the exponential table), and the inputs of copies (upsampling, transposes, slices) whose
/// output is one, since a copy keeps its input's scale. A conv without bias can read a
/// per-step scale.
fn static_scale(g: &FloatGraph) -> Vec<bool> {
    let mut v = vec![false; g.tensors.len()];
    for op in &g.ops {
        match op {
            FOp::Conv { input, bias, .. } if bias.iter().any(|b| *b != 0.0) => v[*input] = true,
            FOp::Softmax { input, .. } => v[*input] = true,
            _ => {}
        }
    }
    for op in g.ops.iter().rev() {
        if let FOp::Upsample { input, output, .. } | FOp::Move { input, output, .. } = op
            && v[*output]
        {
            v[*input] = true;
        }
    }
    v
}

/// Moves the bias of every conv whose only reader adds it to a per-step table (the time
/// embedding: `W x + b + temb(t)`) into every row of that table, so the network is the same
/// function and the conv has no bias. Its input can then take one scale per sampling step,
/// which is what lets `--per-step` give the network input `x_t` a fine scale at the late,
/// low-noise steps, where the network is most sensitive to it. Returns how many biases
/// moved.
pub fn fold_bias_into_step_tables(g: &mut FloatGraph) -> usize {
    let readers =
        |g: &FloatGraph, t: usize| g.ops.iter().filter(|o| o.inputs().contains(&t)).count();
    let mut moved = 0;
    for i in 0..g.ops.len() {
        let FOp::Conv { output, .. } = g.ops[i] else {
            continue;
        };
        if output == g.output || readers(g, output) != 1 {
            continue;
        }
        let Some(FOp::Add { a, b, .. }) = g.ops.iter().find(|o| o.inputs().contains(&output))
        else {
            continue;
        };
        let other = if *a == output { *b } else { *a };
        let channels = g.tensors[output].shape[0];
        let table_op = g.ops.iter().position(
            |o| matches!(o, FOp::Embed { output: t, by: EmbedIndex::Step, .. } if *t == other),
        );
        let Some(j) = table_op else { continue };
        if readers(g, other) != 1 || g.tensors[other].shape[0] != channels {
            continue;
        }
        let bias = match &mut g.ops[i] {
            FOp::Conv { bias, .. } => std::mem::replace(bias, vec![0.0; channels]),
            _ => continue,
        };
        let per_channel = g.tensors[other].len() / channels.max(1);
        if let FOp::Embed { table, .. } = &mut g.ops[j] {
            for (k, v) in table.iter_mut().enumerate() {
                *v += bias[(k / per_channel.max(1)) % channels];
            }
        }
        moved += usize::from(bias.iter().any(|b| *b != 0.0));
    }
    moved
}

/// The network input `x_t` and output (noise, or x0 / v) are standard-normal-like at the
/// noisiest steps, where sampling divides by a tiny `alpha_t`: a value clipped by a range
/// calibrated on a few hundred draws (|x| up to about 3) then turns into an x0 error of
/// hundreds. The output range always covers +-`IO_RANGE` (P(|z| > 5) = 6e-7), the input
/// range +-`IO_RANGE sigma_t` at step `t` ([`calibrate::calibrate`] widens them).
pub const IO_RANGE: f32 = 5.0;

/// Quantizes `g` with activation `ranges` (`ranges.rows` rows: 1, or one per step).
pub fn to_qgraph(g: &FloatGraph, ranges: &Ranges, guidance: f32) -> QGraph {
    let static_only = static_scale(g);
    let rows = ranges.rows();
    let mut qparams: Vec<Vec<QParams>> = (0..rows)
        .map(|r| {
            (0..g.tensors.len())
                .map(|t| {
                    let (lo, hi) = if static_only[t] {
                        ranges.union(t)
                    } else {
                        ranges.get(r, t)
                    };
                    activation_qparams(lo, hi)
                })
                .collect()
        })
        .collect();
    // The device upsamples, transposes and slices by copying bytes: the output keeps the
    // input's parameters (the calibration subsamples values, so their measured ranges can
    // differ slightly). A softmax output has the fixed grid of the integer kernel.
    for op in &g.ops {
        match op {
            FOp::Upsample { input, output, .. } | FOp::Move { input, output, .. } => {
                for row in &mut qparams {
                    row[*output] = row[*input];
                }
            }
            FOp::Softmax { output, .. } => {
                for row in &mut qparams {
                    row[*output] = softmax::OUTPUT;
                }
            }
            _ => {}
        }
    }
    let q0 = |t: usize| qparams[0][t];
    let tensors = g
        .tensors
        .iter()
        .enumerate()
        .map(|(i, t)| QTensor {
            name: t.name.clone(),
            shape: t.shape,
            qparam: i,
        })
        .collect();
    let ops = g
        .ops
        .iter()
        .map(|op| match op {
            FOp::Conv {
                input,
                output,
                weights,
                bias,
                spec,
                relu,
                ..
            } => {
                let out_c = g.tensors[*output].shape[0];
                let (w, s_w) = quantize_weights(weights, out_c);
                let s_x = q0(*input).scale;
                let limit = (1i64 << 30) as f32;
                let b = bias
                    .iter()
                    .zip(&s_w)
                    .map(|(b, s)| round_ties_even(b / (s_x * s)).clamp(-limit, limit) as i32)
                    .collect();
                QOp::Conv {
                    input: *input,
                    output: *output,
                    weights: w,
                    bias: b,
                    w_scales: s_w,
                    spec: *spec,
                    relu: *relu,
                }
            }
            FOp::Add { a, b, output } => QOp::Add {
                a: *a,
                b: *b,
                output: *output,
            },
            FOp::Mul { a, b, output } => QOp::Mul {
                a: *a,
                b: *b,
                output: *output,
            },
            FOp::Concat { a, b, output } => QOp::Concat {
                a: *a,
                b: *b,
                output: *output,
            },
            FOp::Upsample {
                input,
                output,
                factor,
            } => QOp::Upsample {
                input: *input,
                output: *output,
                factor: *factor,
            },
            FOp::Act { input, output, act } => QOp::Lut {
                input: *input,
                output: *output,
                tables: qparams
                    .iter()
                    .map(|row| act.table(row[*input], row[*output]))
                    .collect(),
            },
            FOp::GroupNorm {
                input,
                output,
                groups,
                gamma,
                beta,
                eps,
            } => QOp::GroupNorm {
                input: *input,
                output: *output,
                groups: *groups,
                gamma: gamma.clone(),
                beta: beta.clone(),
                eps: *eps,
            },
            FOp::LayerNorm {
                input,
                output,
                n,
                gamma,
                beta,
                eps,
                center,
            } => QOp::LayerNorm {
                input: *input,
                output: *output,
                n: *n,
                gamma: gamma.clone(),
                beta: beta.clone(),
                eps: *eps,
                center: *center,
            },
            FOp::Move { input, output, how } => QOp::Move {
                input: *input,
                output: *output,
                how: *how,
            },
            FOp::MatMul {
                a,
                b,
                output,
                geometry,
            } => QOp::MatMul {
                a: *a,
                b: *b,
                output: *output,
                geometry: *geometry,
            },
            FOp::Softmax { input, output, n } => QOp::Softmax {
                input: *input,
                output: *output,
                n: *n,
                table: Box::new(softmax::exp_table(q0(*input).scale)),
            },
            FOp::Embed { output, table, by } => {
                let n = g.tensors[*output].len();
                let table = table
                    .chunks(n.max(1))
                    .enumerate()
                    .flat_map(|(r, row)| {
                        let step = by.step_of(r, g.num_classes).filter(|_| rows > 1);
                        let q = qparams[step.unwrap_or(0)][*output];
                        row.iter().map(move |v| q.quantize(*v))
                    })
                    .collect();
                QOp::Embed {
                    output: *output,
                    table,
                    by: *by,
                }
            }
        })
        .collect();
    QGraph {
        sample_shape: g.sample_shape,
        prediction: g.prediction,
        num_classes: g.num_classes,
        guidance,
        tensors,
        qparams,
        ops,
        input: g.input,
        output: g.output,
    }
}
