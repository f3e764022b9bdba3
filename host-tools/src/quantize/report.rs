//! The float-vs-int8 error report: per-layer signal-to-quantization-noise ratio and the
//! per-step error of the network output along sampling trajectories.
//!
//! The int8 side is the quantized graph evaluated with fake quantization: weights dequantized,
//! every activation rounded to its int8 grid (the arithmetic of the device up to the last
//! rounding of each op).

use crate::compile::graph::{QGraph, QOp};
use crate::model::{FOp, FloatGraph, evaluate, evaluate_with};

/// The float graph computing what `q` computes: dequantized weights and embedding tables.
pub fn dequantized(q: &QGraph, float: &FloatGraph) -> FloatGraph {
    let mut g = float.clone();
    for (fop, qop) in g.ops.iter_mut().zip(&q.ops) {
        match (fop, qop) {
            (
                FOp::Conv {
                    weights,
                    bias,
                    input,
                    ..
                },
                QOp::Conv {
                    weights: wq,
                    bias: bq,
                    w_scales,
                    ..
                },
            ) => {
                let s_x = q.qparams[0][q.tensors[*input].qparam].scale;
                let per = wq.len() / w_scales.len().max(1);
                *weights = wq
                    .iter()
                    .enumerate()
                    .map(|(i, w)| f32::from(*w) * w_scales[i / per.max(1)])
                    .collect();
                *bias = bq
                    .iter()
                    .zip(w_scales)
                    .map(|(b, s)| *b as f32 * s_x * s)
                    .collect();
            }
            (FOp::Embed { table, output, by }, QOp::Embed { table: tq, .. }) => {
                let len = q.tensors[*output].len().max(1);
                *table = tq
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let step = by
                            .step_of(i / len, q.num_classes)
                            .filter(|_| q.qparams.len() > 1);
                        q.qparams[step.unwrap_or(0)][q.tensors[*output].qparam].dequantize(*v)
                    })
                    .collect();
            }
            _ => {}
        }
    }
    g
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
