//! The float-vs-int8 error report: per-layer signal-to-quantization-noise ratio and the
//! per-step error of the network output along sampling trajectories.
//!
//! The int8 side is the quantized graph evaluated with fake quantization: weights dequantized,
//! every activation rounded to its int8 grid (the arithmetic of the device up to the last
//! rounding of each op).

use crate::ir::{Activation, FOp, FTensor, FloatGraph};
use crate::ir::{QGraph, QOp};
use crate::model::{evaluate, evaluate_with};

/// The float graph computing what `q` computes: dequantized weights, biases and embedding
/// tables, with the activation functions of `float` (the graph `q` was quantized from).
pub fn dequantized(q: &QGraph, float: &FloatGraph) -> FloatGraph {
    let acts: Vec<Option<Activation>> = float
        .ops
        .iter()
        .map(|o| match o {
            FOp::Act { act, .. } => Some(act.clone()),
            _ => None,
        })
        .collect();
    float_graph(q, 0, |k| {
        acts.get(k).cloned().flatten().unwrap_or(Activation::Silu)
    })
}

/// The float graph of `q` on its own at quantization row `row` (the sampling step of a
/// per-step model, else 0): dequantized weights, biases and embedding tables, and `act(k)` as
/// the function of lookup-table op `k` (a table has no formula).
pub fn float_graph(q: &QGraph, row: usize, act: impl Fn(usize) -> Activation) -> FloatGraph {
    let row = row.min(q.qparams.len().saturating_sub(1));
    let s = |t: usize| q.qparams[row][q.tensors[t].qparam].scale;
    let ops = q
        .ops
        .iter()
        .enumerate()
        .map(|(k, op)| match op {
            QOp::Conv {
                input,
                output,
                weights,
                bias,
                w_scales,
                spec,
                relu,
            } => {
                let per = weights.len() / w_scales.len().max(1);
                FOp::Conv {
                    name: format!("op{k}"),
                    input: *input,
                    output: *output,
                    weights: weights
                        .iter()
                        .enumerate()
                        .map(|(i, w)| f32::from(*w) * w_scales[i / per.max(1)])
                        .collect(),
                    bias: bias
                        .iter()
                        .zip(w_scales)
                        .map(|(b, w)| *b as f32 * s(*input) * w)
                        .collect(),
                    spec: *spec,
                    relu: *relu,
                }
            }
            QOp::Add { a, b, output } => FOp::Add {
                a: *a,
                b: *b,
                output: *output,
            },
            QOp::Mul { a, b, output } => FOp::Mul {
                a: *a,
                b: *b,
                output: *output,
            },
            QOp::Concat { a, b, output } => FOp::Concat {
                a: *a,
                b: *b,
                output: *output,
            },
            QOp::Upsample {
                input,
                output,
                factor,
            } => FOp::Upsample {
                input: *input,
                output: *output,
                factor: *factor,
            },
            QOp::Lut { input, output, .. } => FOp::Act {
                input: *input,
                output: *output,
                act: act(k),
            },
            QOp::GroupNorm {
                input,
                output,
                groups,
                gamma,
                beta,
                eps,
            } => FOp::GroupNorm {
                input: *input,
                output: *output,
                groups: *groups,
                gamma: gamma.clone(),
                beta: beta.clone(),
                eps: *eps,
            },
            QOp::LayerNorm {
                input,
                output,
                n,
                gamma,
                beta,
                eps,
                center,
            } => FOp::LayerNorm {
                input: *input,
                output: *output,
                n: *n,
                gamma: gamma.clone(),
                beta: beta.clone(),
                eps: *eps,
                center: *center,
            },
            QOp::Move { input, output, how } => FOp::Move {
                input: *input,
                output: *output,
                how: *how,
            },
            QOp::MatMul {
                a,
                b,
                output,
                geometry,
            } => FOp::MatMul {
                a: *a,
                b: *b,
                output: *output,
                geometry: *geometry,
            },
            QOp::Softmax {
                input, output, n, ..
            } => FOp::Softmax {
                input: *input,
                output: *output,
                n: *n,
            },
            QOp::Embed { output, table, by } => {
                let len = q.tensors[*output].len().max(1);
                FOp::Embed {
                    output: *output,
                    by: *by,
                    table: table
                        .iter()
                        .enumerate()
                        .map(|(i, v)| {
                            let step = by
                                .step_of(i / len, q.num_classes)
                                .filter(|_| q.qparams.len() > 1);
                            q.qparams[step.unwrap_or(0)][q.tensors[*output].qparam].dequantize(*v)
                        })
                        .collect(),
                }
            }
        })
        .collect();
    FloatGraph {
        sample_shape: q.sample_shape,
        prediction: q.prediction,
        num_classes: q.num_classes,
        tensors: q
            .tensors
            .iter()
            .map(|t| FTensor {
                name: t.name.clone(),
                shape: t.shape,
            })
            .collect(),
        ops,
        input: q.input,
        output: q.output,
    }
}

/// Evaluates `deq` (from [`dequantized`]) with every activation rounded to `q`'s grid at
/// `step`.
pub fn fake_quant(
    q: &QGraph,
    deq: &FloatGraph,
    x: &[f32],
    step: usize,
    label: usize,
) -> Vec<Vec<f32>> {
    let row = if q.qparams.len() == 1 {
        0
    } else {
        step.min(q.qparams.len() - 1)
    };
    evaluate_with(deq, x, step, label, &mut |t, v| {
        let p = q.qparams[row][q.tensors[t].qparam];
        for x in v.iter_mut() {
            *x = p.dequantize(p.quantize(*x));
        }
    })
}

/// Accumulated errors.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Per tensor: (signal energy, noise energy).
    pub tensors: Vec<(f64, f64)>,
    /// Per step: (sum of |eps_float - eps_int8|, count, sum of |eps_float|).
    pub steps: Vec<(f64, usize, f64)>,
}

impl Report {
    /// Adds the comparison of one network evaluation.
    pub fn add(
        &mut self,
        float: &FloatGraph,
        q: &QGraph,
        deq: &FloatGraph,
        x: &[f32],
        step: usize,
        label: usize,
    ) {
        let f = evaluate(float, x, step, label);
        let i = fake_quant(q, deq, x, step, label);
        if self.tensors.is_empty() {
            self.tensors = vec![(0.0, 0.0); f.len()];
        }
        if self.steps.len() <= step {
            self.steps.resize(step + 1, (0.0, 0, 0.0));
        }
        for (k, (a, b)) in f.iter().zip(&i).enumerate() {
            for (x, y) in a.iter().zip(b) {
                self.tensors[k].0 += f64::from(*x).powi(2);
                self.tensors[k].1 += f64::from(x - y).powi(2);
            }
        }
        let s = &mut self.steps[step];
        for (x, y) in f[float.output].iter().zip(&i[float.output]) {
            s.0 += f64::from((x - y).abs());
            s.1 += 1;
            s.2 += f64::from(x.abs());
        }
    }

    /// SQNR in dB of tensor `t` (infinite when exact).
    pub fn sqnr(&self, t: usize) -> f64 {
        let (s, n) = self.tensors[t];
        10.0 * (s / n).log10()
    }
}
