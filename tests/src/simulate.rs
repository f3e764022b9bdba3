//! A float evaluation of a quantized graph, independent of the runtime's kernels: the host's
//! float evaluator ([`evaluate_with`]) runs the dequantized weights, and each op's output is
//! (optionally) rounded to its int8 grid; lookup tables are applied as tables, softmax as its
//! integer kernel.

use edgediff::ir::Activation;
use edgediff::ir::{QGraph, QOp};
use edgediff::model::evaluate_with;
use edgediff::quantize::report::float_graph;
use edgediff_runtime::kernels::quant::QParams;
use edgediff_runtime::kernels::reference::softmax;

/// Float value of every tensor after evaluating `g` on sample `x` at step `step` with `label`.
/// With `quantize`, each op's output is rounded to its int8 grid (the reference for the
/// engine); without, the network runs in float, every table as SiLU (the activation of the
/// test graphs), for calibration.
pub fn evaluate(g: &QGraph, x: &[f32], step: usize, label: usize, quantize: bool) -> Vec<Vec<f64>> {
    let row = if g.qparams.len() == 1 { 0 } else { step };
    let qp = |t: usize| -> QParams { g.qparams[row][g.tensors[t].qparam] };
    let mut producer: Vec<Option<&QOp>> = vec![None; g.tensors.len()];
    for op in &g.ops {
        producer[op.output()] = Some(op);
    }
    let f = float_graph(g, row, |_| Activation::Silu);
    let mut seen: Vec<Vec<f32>> = vec![vec![]; g.tensors.len()];
    let vals = evaluate_with(&f, x, step, label, &mut |t, v| {
        if quantize {
            let q = qp(t);
            match producer[t] {
                // The table is the definition of the quantized activation.
                Some(QOp::Lut { input, tables, .. }) => {
                    let qi = qp(*input);
                    for (o, i) in v.iter_mut().zip(&seen[*input]) {
                        *o = q.dequantize(tables[row][(i32::from(qi.quantize(*i)) + 128) as usize]);
                    }
                }
                // So is the integer softmax.
                Some(QOp::Softmax {
                    input, n, table, ..
                }) => {
                    let qi = qp(*input);
                    let x: Vec<i8> = seen[*input].iter().map(|v| qi.quantize(*v)).collect();
                    let mut y = vec![0i8; x.len()];
                    softmax::softmax(&x, *n, table, &mut y);
                    for (o, q8) in v.iter_mut().zip(&y) {
                        *o = q.dequantize(*q8);
                    }
                }
                _ => v.iter_mut().for_each(|x| *x = q.dequantize(q.quantize(*x))),
            }
        }
        seen[t] = v.to_vec();
    });
    vals.into_iter()
        .map(|v| v.into_iter().map(f64::from).collect())
        .collect()
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
