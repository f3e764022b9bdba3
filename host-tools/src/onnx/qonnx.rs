//! The quantized ONNX form, written from and read back into a [`QGraph`].
//!
//! Opset 13, batch 1, inputs `x` (f32), `step` (int64, the sampling step) and, for conditional
//! models, `label` (int64). Every activation is an int8 tensor `t{i}` of shape `[1, c, h, w]`
//! with scalar initializers `t{i}_scale` (f32) and `t{i}_zp` (int8):
//! - QuantizeLinear at the input, DequantizeLinear at the output;
//! - QLinearConv for every conv and Linear (a 1x1 conv), int8 symmetric per-channel weights,
//!   followed by DequantizeLinear -> Relu -> QuantizeLinear when a ReLU is fused into it,
//!   int32 bias — tract and onnxruntime run these as integer kernels. Its weight scales are
//!   the requantization multipliers `s_x s_w / s_y` themselves and its input and output
//!   scales 1, so every engine requantizes with the multiplier the device uses (tract folds
//!   `s_x s_w / s_y` by a division for some layers and a reciprocal for others, which moves
//!   about one output in 10^5 by one LSB). The weight scales are kept in `op{k}_w_scale`;
//! - DequantizeLinear -> Add / Concat / Resize -> QuantizeLinear;
//! - GroupNorm as the device computes it: integer statistics (Cast, Sub, ReduceSum, Mul in
//!   int64), then Sqrt, Div, Mul, Add in `f32` and a QuantizeLinear of scale 1;
//! - activations as their 256-entry table: `Gather(table, Cast(x, int32) + 128)`, exactly
//!   what the device computes;
//! - per-step and per-class embeddings as int8 tables gathered by `step` / `label`.
//!
//! Metadata records what the graph alone cannot: the timesteps the step tables were built
//! for, the prediction type, the guidance scale, and per-step activation parameters when the
//! model has them (the graph's own QuantizeLinear parameters are then the first step's).

use super::build::{Attr, GraphBuilder};
use super::metadata::{
    GUIDANCE as META_GUIDANCE, NAMES as META_NAMES, PARAMS as META_PARAMS,
    PREDICTION as META_PREDICTION, QPARAMS as META_QPARAMS, TIMESTEPS as META_TIMESTEPS,
    parse_prediction, prediction_name,
};
use crate::compile::graph::{QGraph, QOp, QTensor};
use crate::error::Error;
use edgediff_runtime::kernels::quant::{QParams, multiplier};
use edgediff_runtime::kernels::reference::norm;
use edgediff_runtime::pack::layout::EmbedIndex;
use edgediff_runtime::prediction::PredictionType;
use std::collections::HashMap;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{ModelProto, StringStringEntryProto};

fn dims4(shape: [usize; 3]) -> [i64; 4] {
    [1, shape[0] as i64, shape[1] as i64, shape[2] as i64]
}

/// Writes `g` (built for `timesteps`) as a quantized ONNX model.
pub fn write(g: &QGraph, timesteps: &[u32]) -> ModelProto {
    let mut b = GraphBuilder::new("edgediff_int8");
    let row0 = &g.qparams[0];
    let sample = g.tensors[g.input].shape;
    let flat = sample[1] == 1 && sample[2] == 1;
    let x_dims: Vec<i64> = if flat {
        vec![1, sample[0] as i64]
    } else {
        dims4(sample).to_vec()
    };
    b.input("x", DataType::Float, &x_dims);
    b.input("step", DataType::Int64, &[1]);
    if g.num_classes > 0 {
        b.input("label", DataType::Int64, &[1]);
    }
    let name = |t: usize| format!("t{t}");
    for (i, t) in g.tensors.iter().enumerate() {
        let q = row0[t.qparam];
        b.init_f32(&format!("t{i}_scale"), &[], &[q.scale]);
        b.init_i8(&format!("t{i}_zp"), &[], &[q.zero_point as i8]);
    }
    let scale = |t: usize| format!("t{t}_scale");
    let zp = |t: usize| format!("t{t}_zp");
    let dq = |b: &mut GraphBuilder, t: usize| -> String {
        let out = format!("t{t}_f");
        b.node(
            "DequantizeLinear",
            &[&name(t), &scale(t), &zp(t)],
            &[&out],
            &[],
        );
        out
    };
    let q = |b: &mut GraphBuilder, f: &str, t: usize| {
        b.node("QuantizeLinear", &[f, &scale(t), &zp(t)], &[&name(t)], &[]);
    };
    // Input.
    let xin = if flat {
        let s = b.init_i64("x_shape4", &[4], &dims4(sample));
        b.node("Reshape", &["x", &s], &["x4"], &[]);
        "x4".to_string()
    } else {
        "x".to_string()
    };
    q(&mut b, &xin, g.input);
    for (k, op) in g.ops.iter().enumerate() {
        let out = op.output();
        let oshape = g.tensors[out].shape;
        match op {
            QOp::Conv {
                input,
                weights,
                bias,
                w_scales,
                kernel,
                stride,
                pad,
                relu,
                ..
            } => {
                let (oc, ic) = (oshape[0] as i64, g.tensors[*input].shape[0] as i64);
                let w = b.init_i8(
                    &format!("op{k}_w"),
                    &[oc, ic, kernel[0] as i64, kernel[1] as i64],
                    weights,
                );
                b.init_f32(&format!("op{k}_w_scale"), &[oc], w_scales);
                let (qx, qy) = (row0[g.tensors[*input].qparam], row0[g.tensors[out].qparam]);
                let m: Vec<f32> = w_scales
                    .iter()
                    .map(|s| multiplier(qx.scale, *s, qy.scale))
                    .collect();
                let ms = b.init_f32(&format!("op{k}_multiplier"), &[oc], &m);
                let one = b.init_f32(&format!("op{k}_unit_scale"), &[], &[1.0]);
                let wz = b.init_i8(&format!("op{k}_w_zp"), &[oc], &vec![0; oc as usize]);
                let bias = b.init_i32(&format!("op{k}_bias"), &[oc], bias);
                let (x, xz, yz) = (name(*input), zp(*input), zp(out));
                // A fused ReLU clamps at the output zero point: DequantizeLinear -> Relu ->
                // QuantizeLinear on the output grid computes exactly that.
                let conv_out = if *relu {
                    format!("op{k}_conv")
                } else {
                    name(out)
                };
                b.node(
                    "QLinearConv",
                    &[&x, &one, &xz, &w, &ms, &wz, &one, &yz, &bias],
                    &[&conv_out],
                    &[
                        (
                            "kernel_shape",
                            Attr::Ints(vec![kernel[0] as i64, kernel[1] as i64]),
                        ),
                        ("strides", Attr::Ints(vec![*stride as i64; 2])),
                        ("pads", Attr::Ints(vec![*pad as i64; 4])),
                    ],
                );
                if *relu {
                    let (f, r) = (format!("op{k}_conv_f"), format!("op{k}_relu"));
                    b.node(
                        "DequantizeLinear",
                        &[&conv_out, &scale(out), &yz],
                        &[&f],
                        &[],
                    );
                    b.node("Relu", &[&f], &[&r], &[]);
                    q(&mut b, &r, out);
                }
            }
            QOp::Add { a, b: bb, .. } => {
                let (fa, fb) = (dq(&mut b, *a), dq(&mut b, *bb));
                let f = format!("op{k}_add");
                b.node("Add", &[&fa, &fb], &[&f], &[]);
                q(&mut b, &f, out);
            }
            QOp::Concat { a, b: bb, .. } => {
                let (fa, fb) = (dq(&mut b, *a), dq(&mut b, *bb));
                let f = format!("op{k}_concat");
                b.node("Concat", &[&fa, &fb], &[&f], &[("axis", Attr::Int(1))]);
                q(&mut b, &f, out);
            }
            QOp::Upsample { input, factor, .. } => {
                let fi = dq(&mut b, *input);
                let f = format!("op{k}_resize");
                let scales = b.init_f32(
                    &format!("op{k}_scales"),
                    &[4],
                    &[1.0, 1.0, *factor as f32, *factor as f32],
                );
                b.node(
                    "Resize",
                    &[&fi, "", &scales],
                    &[&f],
                    &[
                        ("mode", Attr::Str("nearest")),
                        ("coordinate_transformation_mode", Attr::Str("asymmetric")),
                        ("nearest_mode", Attr::Str("floor")),
                    ],
                );
                q(&mut b, &f, out);
            }
            QOp::Lut { input, tables, .. } => {
                let table = b.init_i8(&format!("op{k}_table"), &[256], &tables[0]);
                if tables.len() > 1 {
                    // Per-step tables for the pack; tract uses the first.
                    let all: Vec<i8> = tables.iter().flatten().copied().collect();
                    b.init_i8(&format!("op{k}_tables"), &[tables.len() as i64, 256], &all);
                }
                let offset = b.init_i32(&format!("op{k}_offset"), &[], &[128]);
                let (c, i) = (format!("op{k}_i32"), format!("op{k}_index"));
                b.node(
                    "Cast",
                    &[&name(*input)],
                    &[&c],
                    &[("to", Attr::Int(DataType::Int32 as i64))],
                );
                b.node("Add", &[&c, &offset], &[&i], &[]);
                b.node(
                    "Gather",
                    &[&table, &i],
                    &[&name(out)],
                    &[("axis", Attr::Int(0))],
                );
            }
            QOp::GroupNorm { .. } => group_norm(&mut b, k, g, op),
            QOp::Embed { table, by, .. } => {
                let len = g.tensors[out].len() as i64;
                let rows = table.len() as i64 / len.max(1);
                let t = b.init_i8(&format!("op{k}_table"), &[rows, len], table);
                let joint = format!("op{k}_index");
                let index = match by {
                    EmbedIndex::Step => "step",
                    EmbedIndex::Class => "label",
                    EmbedIndex::StepClass => {
                        // row = step * (classes + 1) + label
                        let labels = b.init_i64(
                            &format!("op{k}_labels"),
                            &[1],
                            &[i64::from(g.num_classes) + 1],
                        );
                        let scaled = format!("op{k}_step_rows");
                        b.node("Mul", &["step", &labels], &[&scaled], &[]);
                        b.node("Add", &[&scaled, "label"], &[&joint], &[]);
                        &joint
                    }
                };
                let s = b.init_i64(&format!("op{k}_shape"), &[4], &dims4(oshape));
                let gathered = format!("op{k}_row");
                b.node(
                    "Gather",
                    &[&t, index],
                    &[&gathered],
                    &[("axis", Attr::Int(0))],
                );
                b.node("Reshape", &[&gathered, &s], &[&name(out)], &[]);
            }
        }
    }
    let fo = dq(&mut b, g.output);
    if flat {
        let s = b.init_i64("out_shape2", &[2], &x_dims);
        b.node("Reshape", &[&fo, &s], &["eps"], &[]);
    } else {
        b.node("Identity", &[&fo], &["eps"], &[]);
    }
    b.output("eps", DataType::Float, &x_dims);
    let mut m = b.finish();
    stash_unused(&mut m);
    let meta = |k: &str, v: String| StringStringEntryProto {
        key: k.into(),
        value: v,
    };
    m.metadata_props
        .push(meta(META_PREDICTION, prediction_name(g.prediction).into()));
    m.metadata_props.push(meta(
        META_TIMESTEPS,
        timesteps
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(","),
    ));
    m.metadata_props
        .push(meta(META_GUIDANCE, g.guidance.to_string()));
    let names: Vec<&str> = g.tensors.iter().map(|t| t.name.as_str()).collect();
    m.metadata_props.push(meta(META_NAMES, names.join("\n")));
    if g.qparams.len() > 1 {
        let rows: Vec<String> = g
            .qparams
            .iter()
            .map(|r| {
                r.iter()
                    .map(|q| format!("{:08x}:{}", q.scale.to_bits(), q.zero_point))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        m.metadata_props.push(meta(META_QPARAMS, rows.join(";")));
    }
    m
}

/// The int8 ONNX of sampling step `step` of a model with per-step activation parameters:
/// that step's scales, zero points and activation tables as the graph's constants. The
/// device computes with the same row at that step, so tract can check every step.
pub fn at_step(m: &QModel, step: usize) -> ModelProto {
    let mut g = m.graph.clone();
    if let Some(row) = g.qparams.get(step).cloned() {
        g.qparams = vec![row];
    }
    for op in &mut g.ops {
        if let QOp::Lut { tables, .. } = op
            && let Some(t) = tables.get(step).copied()
        {
            *tables = vec![t];
        }
    }
    write(&g, &m.timesteps)
}

/// Declares every op's int8 output `t{i}` as a graph output too (after `eps`), so an engine
/// returns every intermediate tensor for a layer-by-layer comparison.
pub fn expose_tensors(m: &mut ModelProto, g: &QGraph) {
    if let Some(graph) = m.graph.as_mut() {
        for op in &g.ops {
            let t = op.output();
            graph.output.push(super::build::value_info(
                &format!("t{t}"),
                DataType::Int8,
                &dims4(g.tensors[t].shape),
            ));
        }
    }
}

/// GroupNorm as the kernel computes it (runtime `kernels::reference::norm`): integer
/// statistics, then the same `f32` operations in the same order, ending in a
/// QuantizeLinear of scale 1 (round half to even, add the zero point, saturate); `op` is a
/// [`QOp::GroupNorm`] (nothing is written for any other op). The source
/// `gamma`, `beta` and `eps` are kept as initializers `op{k}_gamma`, `op{k}_beta`,
/// `op{k}_eps` that no node reads, so [`read`] recovers the op exactly.
fn group_norm(b: &mut GraphBuilder, k: usize, g: &QGraph, op: &QOp) {
    let QOp::GroupNorm {
        input,
        output: out,
        groups,
        gamma,
        beta,
        eps,
    } = op
    else {
        return;
    };
    let (input, out, groups, eps) = (*input, *out, *groups, *eps);
    let row0 = &g.qparams[0];
    let (qx, qy) = (row0[g.tensors[input].qparam], row0[g.tensors[out].qparam]);
    let [c, h, w] = g.tensors[out].shape;
    let per_group = c / groups.max(1);
    let n_values = per_group * h * w;
    let n = |s: &str| format!("op{k}_{s}");
    b.init_f32(&n("gamma"), &[c as i64], gamma);
    b.init_f32(&n("beta"), &[c as i64], beta);
    b.init_f32(&n("eps"), &[], &[eps]);
    let grouped = [1, groups as i64, per_group as i64, (h * w) as i64];
    let shape_g = b.init_i64(&n("shape_g"), &[4], &grouped);
    let shape = b.init_i64(&n("shape"), &[4], &dims4([c, h, w]));
    let axes = b.init_i64(&n("axes"), &[2], &[2, 3]);
    let zx = b.init_i32(&n("zx"), &[], &[qx.zero_point]);
    let count = b.init_i32(&n("count"), &[], &[n_values as i32]);
    let count64 = b.init_f64(&n("count_f64"), &[], &[n_values as f64]);
    let offset = b.init_f32(
        &n("offset"),
        &[],
        &[norm::variance_offset(eps, n_values, qx.scale)],
    );
    let one = b.init_f32(&n("one"), &[], &[1.0]);
    let (gs, bs): (Vec<f32>, Vec<f32>) = gamma
        .iter()
        .zip(beta)
        .map(|(ga, be)| norm::affine(*ga, *be, qy.scale))
        .unzip();
    let affine_dims = [1, groups as i64, per_group as i64, 1];
    let gs = b.init_f32(&n("gamma_q"), &affine_dims, &gs);
    let bs = b.init_f32(&n("beta_q"), &affine_dims, &bs);
    let x = format!("t{input}");
    let to = |t: DataType| [("to", Attr::Int(t as i64))];
    // Sums in int32 (exact below 33,000 values per group, the pack's limit), `n s2 - s1^2`
    // in f64 (every integer below 2^53 is exact), rounded once to f32 as the device's i64.
    b.node("Cast", &[&x], &[&n("x32")], &to(DataType::Int32));
    b.node("Sub", &[&n("x32"), &zx], &[&n("d")], &[]);
    b.node("Reshape", &[&n("d"), &shape_g], &[&n("dg")], &[]);
    let sum = [("keepdims", Attr::Int(1))];
    b.node("ReduceSum", &[&n("dg"), &axes], &[&n("s1")], &sum);
    b.node("Mul", &[&n("dg"), &n("dg")], &[&n("d2")], &[]);
    b.node("ReduceSum", &[&n("d2"), &axes], &[&n("s2")], &sum);
    b.node("Cast", &[&n("s1")], &[&n("s1_f64")], &to(DataType::Double));
    b.node("Cast", &[&n("s2")], &[&n("s2_f64")], &to(DataType::Double));
    b.node("Mul", &[&n("s2_f64"), &count64], &[&n("ns2")], &[]);
    b.node("Mul", &[&n("s1_f64"), &n("s1_f64")], &[&n("s1s1")], &[]);
    b.node("Sub", &[&n("ns2"), &n("s1s1")], &[&n("v")], &[]);
    b.node("Cast", &[&n("v")], &[&n("vf")], &to(DataType::Float));
    b.node("Add", &[&n("vf"), &offset], &[&n("den")], &[]);
    b.node("Sqrt", &[&n("den")], &[&n("sqrt")], &[]);
    b.node("Div", &[&one, &n("sqrt")], &[&n("inv")], &[]);
    b.node("Mul", &[&n("inv"), &gs], &[&n("a")], &[]);
    b.node("Mul", &[&n("dg"), &count], &[&n("nd")], &[]);
    b.node("Sub", &[&n("nd"), &n("s1")], &[&n("u")], &[]);
    b.node("Cast", &[&n("u")], &[&n("uf")], &to(DataType::Float));
    b.node("Mul", &[&n("uf"), &n("a")], &[&n("ua")], &[]);
    b.node("Add", &[&n("ua"), &bs], &[&n("shifted")], &[]);
    b.node("Reshape", &[&n("shifted"), &shape], &[&n("back")], &[]);
    b.node(
        "QuantizeLinear",
        &[&n("back"), &one, &format!("t{out}_zp")],
        &[&format!("t{out}")],
        &[],
    );
}

/// A quantized model read back: the graph and the timesteps its step tables were built for.
#[derive(Clone, Debug)]
pub struct QModel {
    /// The graph.
    pub graph: QGraph,
    /// Timesteps of the step tables.
    pub timesteps: Vec<u32>,
}

/// Moves every initializer that no node reads into the [`META_PARAMS`] metadata.
fn stash_unused(m: &mut ModelProto) {
    let Some(graph) = m.graph.as_mut() else {
        return;
    };
    let read: std::collections::HashSet<&str> = graph
        .node
        .iter()
        .flat_map(|n| n.input.iter().map(String::as_str))
        .collect();
    let (used, unused): (Vec<_>, Vec<_>) = std::mem::take(&mut graph.initializer)
        .into_iter()
        .partition(|t| read.contains(t.name.as_str()));
    graph.initializer = used;
    let lines: Vec<String> = unused
        .iter()
        .map(|t| {
            let dims: Vec<String> = t.dims.iter().map(i64::to_string).collect();
            let hex: String = t.raw_data.iter().map(|b| format!("{b:02x}")).collect();
            format!("{} {} {} {hex}", t.name, t.data_type, dims.join(","))
        })
        .collect();
    m.metadata_props.push(StringStringEntryProto {
        key: META_PARAMS.into(),
        value: lines.join("\n"),
    });
}

/// The initializers [`stash_unused`] moved to metadata.
fn stashed(m: &ModelProto, file: &str) -> Result<Vec<tract_onnx::pb::TensorProto>, Error> {
    let Some(text) = super::metadata::get(m, META_PARAMS) else {
        return Ok(vec![]);
    };
    let bad = |line: &str| Error::Input(format!("{file}: bad `{META_PARAMS}` entry `{line}`"));
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let mut parts = line.split(' ');
            let (Some(name), Some(dt), Some(dims), Some(hex), None) = (
                parts.next(),
                parts.next(),
                parts.next(),
                parts.next(),
                parts.next(),
            ) else {
                return Err(bad(line));
            };
            let dims = dims
                .split(',')
                .filter(|d| !d.is_empty())
                .map(|d| d.parse::<i64>().map_err(|_| bad(line)))
                .collect::<Result<_, _>>()?;
            if hex.len() % 2 != 0 {
                return Err(bad(line));
            }
            let raw_data = (0..hex.len() / 2)
                .map(|i| {
                    hex.get(2 * i..2 * i + 2)
                        .and_then(|b| u8::from_str_radix(b, 16).ok())
                        .ok_or_else(|| bad(line))
                })
                .collect::<Result<_, _>>()?;
            Ok(tract_onnx::pb::TensorProto {
                name: name.into(),
                data_type: dt.parse().map_err(|_| bad(line))?,
                dims,
                raw_data,
                ..Default::default()
            })
        })
        .collect()
}

/// Reads a model written by [`write`] (`file` names it in errors).
pub fn read(m: &ModelProto, file: &str) -> Result<QModel, Error> {
    let bad = |what: String| Error::Input(format!("{file}: {what}"));
    let graph = m.graph.as_ref().ok_or_else(|| bad("no graph".into()))?;
    let meta: HashMap<&str, &str> = m
        .metadata_props
        .iter()
        .map(|p| (p.key.as_str(), p.value.as_str()))
        .collect();
    let timesteps: Vec<u32> = meta
        .get(META_TIMESTEPS)
        .ok_or_else(|| {
            bad(format!(
                "no `{META_TIMESTEPS}` metadata: not a model written by `edgediff quantize`"
            ))
        })?
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| bad(format!("bad timestep `{s}` in metadata")))
        })
        .collect::<Result<_, _>>()?;
    let stash = stashed(m, file)?;
    let inits: HashMap<&str, &tract_onnx::pb::TensorProto> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t))
        .chain(stash.iter().map(|t| (t.name.as_str(), t)))
        .collect();
    let raw = |n: &str| -> Result<&[u8], Error> {
        inits
            .get(n)
            .map(|t| t.raw_data.as_slice())
            .ok_or_else(|| bad(format!("missing initializer `{n}`")))
    };
    let f32s = |n: &str| -> Result<Vec<f32>, Error> {
        Ok(raw(n)?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    };
    let i32s = |n: &str| -> Result<Vec<i32>, Error> {
        Ok(raw(n)?
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    };
    let i8s =
        |n: &str| -> Result<Vec<i8>, Error> { Ok(raw(n)?.iter().map(|b| *b as i8).collect()) };
    let i64s = |n: &str| -> Result<Vec<i64>, Error> {
        Ok(raw(n)?
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect())
    };
    // Tensor ids and their parameters.
    let tensor_id = |n: &str| -> Option<usize> { n.strip_prefix('t')?.parse().ok() };
    let count = inits
        .keys()
        .filter(|n| {
            n.strip_suffix("_scale")
                .is_some_and(|t| tensor_id(t).is_some())
        })
        .count();
    let id = |n: &str| tensor_id(n).filter(|i| *i < count);
    let mut qrow = Vec::with_capacity(count);
    for i in 0..count {
        let s = f32s(&format!("t{i}_scale"))?
            .first()
            .copied()
            .ok_or_else(|| bad(format!("empty scale of t{i}")))?;
        let z = i8s(&format!("t{i}_zp"))?
            .first()
            .copied()
            .ok_or_else(|| bad(format!("empty zero point of t{i}")))?;
        qrow.push(QParams {
            scale: s,
            zero_point: i32::from(z),
        });
    }
    let mut shapes: Vec<Option<[usize; 3]>> = vec![None; count];
    let mut ops: Vec<QOp> = vec![];
    let node_out = |n: &tract_onnx::pb::NodeProto| n.output.first().cloned().unwrap_or_default();
    let producer: HashMap<String, &tract_onnx::pb::NodeProto> = graph
        .node
        .iter()
        .flat_map(|n| n.output.iter().map(move |o| (o.clone(), n)))
        .collect();
    let mut consumer: HashMap<&str, &tract_onnx::pb::NodeProto> = HashMap::new();
    for n in &graph.node {
        for i in &n.input {
            consumer.entry(i.as_str()).or_insert(n);
        }
    }
    // The tensor a DequantizeLinear output came from.
    let src = |f: &str| -> Option<usize> {
        producer
            .get(f)
            .filter(|n| n.op_type == "DequantizeLinear")
            .and_then(|n| id(n.input.first()?))
    };
    let x_dims = graph
        .input
        .first()
        .and_then(super::value_dims)
        .map(|d| d.1)
        .ok_or_else(|| bad("input x has no static shape".into()))?;
    let sample = match x_dims.as_slice() {
        [1, d] => [*d as usize, 1, 1],
        [1, c, h, w] => [*c as usize, *h as usize, *w as usize],
        other => {
            return Err(bad(format!(
                "input x has shape {other:?}, expected [1, d] or [1, c, h, w]"
            )));
        }
    };
    let mut input = None;
    let attr =
        |n: &tract_onnx::pb::NodeProto, a: &str| n.attribute.iter().find(|x| x.name == a).cloned();
    for n in &graph.node {
        let out = node_out(n);
        match n.op_type.as_str() {
            "QuantizeLinear" => {
                let t = id(&out).ok_or_else(|| {
                    bad(format!(
                        "QuantizeLinear `{}` writes `{out}`, not a t{{i}} tensor",
                        n.name
                    ))
                })?;
                if shapes[t].is_some() {
                    continue; // written by a GroupNorm pattern below
                }
                let f = n.input.first().cloned().unwrap_or_default();
                let p = producer.get(&f).copied();
                let from_x = f == "x"
                    || p.is_some_and(|p| {
                        p.op_type == "Reshape" && p.input.first().is_some_and(|i| i == "x")
                    });
                if from_x {
                    input = Some(t);
                    shapes[t] = Some(sample);
                    continue;
                }
                let p = p.ok_or_else(|| {
                    bad(format!(
                        "QuantizeLinear `{}` reads `{f}`, which no node writes",
                        n.name
                    ))
                })?;
                let from_dq = |k: usize| -> Result<usize, Error> {
                    let i = p.input.get(k).map(String::as_str).unwrap_or("");
                    let t = src(i).ok_or_else(|| {
                        bad(format!(
                            "node `{}` ({}): input `{i}` must come from DequantizeLinear",
                            p.name, p.op_type
                        ))
                    })?;
                    shapes[t].map(|_| t).ok_or_else(|| {
                        bad(format!("node `{}`: t{t} used before it is written", p.name))
                    })
                };
                match p.op_type.as_str() {
                    "Add" | "Concat" => {
                        let (a, b) = (from_dq(0)?, from_dq(1)?);
                        let (sa, sb) =
                            (shapes[a].unwrap_or_default(), shapes[b].unwrap_or_default());
                        if p.op_type == "Add" {
                            shapes[t] = Some(sa);
                            ops.push(QOp::Add { a, b, output: t });
                        } else {
                            shapes[t] = Some([sa[0] + sb[0], sa[1], sa[2]]);
                            ops.push(QOp::Concat { a, b, output: t });
                        }
                    }
                    "Resize" => {
                        let a = from_dq(0)?;
                        let f = f32s(p.input.get(2).map(String::as_str).unwrap_or(""))?
                            .get(2)
                            .copied()
                            .unwrap_or(1.0) as usize;
                        let s = shapes[a].unwrap_or_default();
                        shapes[t] = Some([s[0], s[1] * f, s[2] * f]);
                        ops.push(QOp::Upsample {
                            input: a,
                            output: t,
                            factor: f,
                        });
                    }
                    other => {
                        return Err(bad(format!(
                            "QuantizeLinear `{}`: unsupported producer `{}` ({other})",
                            n.name, p.name
                        )));
                    }
                }
            }
            "QLinearConv" => {
                // `t{i}`, or `op{k}_conv` -> DequantizeLinear -> Relu -> QuantizeLinear -> `t{i}`.
                let relu_out = || {
                    let f = consumer.get(out.as_str())?;
                    let r = consumer.get(node_out(f).as_str())?;
                    let q = consumer.get(node_out(r).as_str())?;
                    (f.op_type == "DequantizeLinear"
                        && r.op_type == "Relu"
                        && q.op_type == "QuantizeLinear")
                        .then(|| id(&node_out(q)))
                        .flatten()
                };
                let (t, relu) = match id(&out) {
                    Some(t) => (t, false),
                    None => (
                        relu_out().ok_or_else(|| {
                            bad(format!("QLinearConv `{}` writes `{out}`", n.name))
                        })?,
                        true,
                    ),
                };
                let x = id(&n.input[0]).ok_or_else(|| {
                    bad(format!("QLinearConv `{}` reads `{}`", n.name, n.input[0]))
                })?;
                let wt = inits.get(n.input[3].as_str()).ok_or_else(|| {
                    bad(format!(
                        "QLinearConv `{}`: weight is not an initializer",
                        n.name
                    ))
                })?;
                let d: Vec<usize> = wt.dims.iter().map(|v| *v as usize).collect();
                let [oc, _, kh, kw] = d[..] else {
                    return Err(bad(format!("QLinearConv `{}`: weight must be 4-D", n.name)));
                };
                let ints = |a: &str, default: i64, len: usize| {
                    attr(n, a).map_or(vec![default; len], |a| a.ints.clone())
                };
                let (strides, pads) = (ints("strides", 1, 2), ints("pads", 0, 4));
                let stride = match strides[..] {
                    [a, b] if a == b && (1..=255).contains(&a) => a as usize,
                    _ => {
                        return Err(bad(format!(
                            "QLinearConv `{}`: strides {strides:?}: expected two equal values in \
                             1..=255",
                            n.name
                        )));
                    }
                };
                let pad = match pads[..] {
                    [a, b, c, d] if a == b && b == c && c == d && (0..=255).contains(&a) => {
                        a as usize
                    }
                    _ => {
                        return Err(bad(format!(
                            "QLinearConv `{}`: pads {pads:?}: expected four equal values in \
                             0..=255",
                            n.name
                        )));
                    }
                };
                let s = shapes[x].ok_or_else(|| bad(format!("t{x} used before defined")))?;
                if s[1] + 2 * pad < kh || s[2] + 2 * pad < kw || oc == 0 {
                    return Err(bad(format!(
                        "QLinearConv `{}`: kernel {kh}x{kw} does not fit the input {s:?} padded \
                         by {pad}",
                        n.name
                    )));
                }
                shapes[t] = Some([
                    oc,
                    (s[1] + 2 * pad - kh) / stride + 1,
                    (s[2] + 2 * pad - kw) / stride + 1,
                ]);
                let bias = match n.input.get(8) {
                    Some(b) if !b.is_empty() => i32s(b)?,
                    _ => vec![0; oc],
                };
                ops.push(QOp::Conv {
                    input: x,
                    output: t,
                    weights: i8s(&n.input[3])?,
                    bias,
                    w_scales: f32s(&format!(
                        "{}_w_scale",
                        n.input[4].trim_end_matches("_multiplier")
                    ))?,
                    kernel: [kh, kw],
                    stride,
                    pad,
                    relu,
                });
            }
            "Gather" if id(&out).is_some() => {
                // Activation table: Gather(table, Cast(x) + 128).
                let t = id(&out).ok_or_else(|| bad("internal".into()))?;
                let add = producer
                    .get(&n.input[1])
                    .ok_or_else(|| bad(format!("Gather `{}`: index has no producer", n.name)))?;
                let cast = producer
                    .get(&add.input[0])
                    .ok_or_else(|| bad(format!("Gather `{}`: not an activation table", n.name)))?;
                let x = id(&cast.input[0])
                    .ok_or_else(|| bad(format!("Gather `{}`: not an activation table", n.name)))?;
                shapes[t] = shapes[x];
                let tv = i8s(&n.input[0])?;
                let table: [i8; 256] = tv.try_into().map_err(|_| {
                    bad(format!("Gather `{}`: table must have 256 entries", n.name))
                })?;
                let k = n.input[0].trim_end_matches("_table");
                let tables = match inits.get(format!("{k}_tables").as_str()) {
                    Some(all) => all
                        .raw_data
                        .chunks_exact(256)
                        .map(|c| std::array::from_fn(|i| c[i] as i8))
                        .collect(),
                    None => vec![table],
                };
                ops.push(QOp::Lut {
                    input: x,
                    output: t,
                    tables,
                });
            }
            "Reshape" if id(&out).is_some() => {
                // An embedding row: Gather(table, step | label) -> Reshape.
                let t = id(&out).ok_or_else(|| bad("internal".into()))?;
                let g = producer
                    .get(&n.input[0])
                    .filter(|p| p.op_type == "Gather")
                    .ok_or_else(|| {
                        bad(format!(
                            "Reshape `{}`: expected an embedding Gather before it",
                            n.name
                        ))
                    })?;
                let dims = i64s(&n.input[1])?;
                shapes[t] = Some([dims[1] as usize, dims[2] as usize, dims[3] as usize]);
                let table = i8s(&g.input[0])?;
                let by = match g.input[1].as_str() {
                    "step" => EmbedIndex::Step,
                    "label" => EmbedIndex::Class,
                    _ => EmbedIndex::StepClass,
                };
                ops.push(QOp::Embed {
                    output: t,
                    table,
                    by,
                });
            }
            "Sqrt" => {
                // The GroupNorm pattern written by `group_norm`: op{k}_x32 = Cast(t{x}) ...
                // op{k}_sqrt ... QuantizeLinear(op{k}_back) = t{y}.
                let k = n.name.strip_suffix("_sqrt").ok_or_else(|| {
                    bad(format!(
                        "Sqrt `{}`: only GroupNorm's `op{{k}}_sqrt` is supported",
                        n.name
                    ))
                })?;
                let x = producer
                    .get(&format!("{k}_x32"))
                    .and_then(|c| id(c.input.first()?))
                    .ok_or_else(|| {
                        bad(format!(
                            "GroupNorm `{k}`: no Cast `{k}_x32` of an int8 tensor"
                        ))
                    })?;
                let q = graph
                    .node
                    .iter()
                    .find(|q| {
                        q.op_type == "QuantizeLinear"
                            && q.input.first().is_some_and(|i| *i == format!("{k}_back"))
                    })
                    .ok_or_else(|| {
                        bad(format!("GroupNorm `{k}`: no QuantizeLinear of `{k}_back`"))
                    })?;
                let t = id(&node_out(q))
                    .ok_or_else(|| bad(format!("GroupNorm `{k}` writes `{}`", node_out(q))))?;
                let groups = i64s(&format!("{k}_shape_g"))?
                    .get(1)
                    .copied()
                    .ok_or_else(|| bad(format!("GroupNorm `{k}`: bad `{k}_shape_g`")))?
                    as usize;
                let eps = f32s(&format!("{k}_eps"))?
                    .first()
                    .copied()
                    .ok_or_else(|| bad(format!("GroupNorm `{k}`: empty `{k}_eps`")))?;
                shapes[t] = shapes[x];
                ops.push(QOp::GroupNorm {
                    input: x,
                    output: t,
                    groups,
                    gamma: f32s(&format!("{k}_gamma"))?,
                    beta: f32s(&format!("{k}_beta"))?,
                    eps,
                });
            }
            _ => {}
        }
    }
    let mut cur = "eps".to_string();
    let mut output = None;
    for _ in 0..graph.node.len() {
        let p = producer
            .get(&cur)
            .ok_or_else(|| bad(format!("`{cur}` is not written by any node")))?;
        if p.op_type == "DequantizeLinear" {
            output = p.input.first().and_then(|i| id(i));
            break;
        }
        cur = p.input.first().cloned().unwrap_or_default();
    }
    let output =
        output.ok_or_else(|| bad("no DequantizeLinear feeding the output `eps`".into()))?;
    let input = input.ok_or_else(|| bad("no QuantizeLinear of the input x".into()))?;
    let names: Vec<&str> = meta
        .get(META_NAMES)
        .map(|n| n.split('\n').collect())
        .unwrap_or_default();
    let tensors: Vec<QTensor> = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            s.map(|shape| QTensor {
                name: names
                    .get(i)
                    .map_or_else(|| format!("t{i}"), |n| n.to_string()),
                shape,
                qparam: i,
            })
            .ok_or_else(|| bad(format!("tensor t{i} is never written")))
        })
        .collect::<Result<_, _>>()?;
    let qparams = match meta.get(META_QPARAMS) {
        None => vec![qrow],
        Some(s) => s
            .split(';')
            .map(|row| {
                row.split(',')
                    .map(|e| {
                        let (sb, z) = e
                            .split_once(':')
                            .ok_or_else(|| bad(format!("bad `{META_QPARAMS}` entry `{e}`")))?;
                        let scale = u32::from_str_radix(sb, 16)
                            .map(f32::from_bits)
                            .map_err(|_| bad(format!("bad scale `{sb}`")))?;
                        let zero_point = z
                            .parse()
                            .map_err(|_| bad(format!("bad zero point `{z}`")))?;
                        Ok(QParams { scale, zero_point })
                    })
                    .collect::<Result<Vec<_>, Error>>()
            })
            .collect::<Result<Vec<_>, Error>>()?,
    };
    let prediction = meta
        .get(META_PREDICTION)
        .and_then(|p| parse_prediction(p))
        .unwrap_or(PredictionType::Epsilon);
    let guidance = meta
        .get(META_GUIDANCE)
        .and_then(|g| g.parse().ok())
        .unwrap_or(1.0);
    let num_classes = ops
        .iter()
        .find_map(|o| match o {
            QOp::Embed { table, output, by } if *by != EmbedIndex::Step => {
                let rows = table.len() / tensors[*output].len().max(1);
                let labels = match by {
                    EmbedIndex::StepClass => rows / timesteps.len().max(1),
                    _ => rows,
                };
                Some(labels.saturating_sub(1) as u16)
            }
            _ => None,
        })
        .unwrap_or(0);
    Ok(QModel {
        graph: QGraph {
            sample_shape: sample,
            prediction,
            num_classes,
            guidance,
            tensors,
            qparams,
            ops,
            input,
            output,
        },
        timesteps,
    })
}
