//! Writes a [`QGraph`] as int8 ONNX.

use super::QModel;
use super::dims4;
use crate::ir::{Movement, QGraph, QOp};
use crate::onnx::build::{Attr, GraphBuilder};
use crate::onnx::metadata::{
    GUIDANCE as META_GUIDANCE, NAMES as META_NAMES, PARAMS as META_PARAMS,
    PREDICTION as META_PREDICTION, QPARAMS as META_QPARAMS, TIMESTEPS as META_TIMESTEPS, entry,
    prediction_name,
};
use edgediff_runtime::kernels::quant::multiplier;
use edgediff_runtime::kernels::reference::{MatMulGeometry, norm, row_vector, softmax};
use edgediff_runtime::pack::layout::EmbedIndex;
use tract_onnx::pb::ModelProto;
use tract_onnx::pb::tensor_proto::DataType;

/// Writes `g` (built for `timesteps`) as a quantized ONNX model.
pub fn write(g: &QGraph, timesteps: &[u32]) -> ModelProto {
    let mut b = GraphBuilder::new("edgediff_int8");
    let row0 = &g.qparams[0];
    let sample = g.tensors[g.input].shape;
    let x_dims: Vec<i64> = interface_dims(sample).iter().map(|d| *d as i64).collect();
    let flat = x_dims.len() < 4;
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
                spec,
                relu,
                ..
            } => {
                let (oc, ic) = (oshape[0] as i64, g.tensors[*input].shape[0] as i64);
                let groups = spec.groups as i64;
                let kernel = spec.kernel.map(|v| v as i64);
                let w = b.init_i8(
                    &format!("op{k}_w"),
                    &[oc, ic / groups, kernel[0], kernel[1]],
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
                let (mut x, xz, yz) = (name(*input), zp(*input), zp(out));
                // A transposed conv (equal padding on both axes): the stuffed input, then the
                // conv with its end padding.
                let [ph, pw] = spec.pad.map(|p| p as i64);
                let mut pads = vec![ph, pw, ph, pw];
                if spec.up > 1 {
                    let shape = g.tensors[*input].shape;
                    let end = (spec.pad[0] + spec.out_pad) as i64 - (spec.up as i64 - 1);
                    x = stuffed(&mut b, k, (&x, &xz), shape, spec.up, end.min(0));
                    (pads[2], pads[3]) = (end.max(0), end.max(0));
                    b.init_i64(&format!("op{k}_out_pad"), &[], &[spec.out_pad as i64]);
                }
                let mut attrs = vec![
                    ("kernel_shape", Attr::Ints(kernel.to_vec())),
                    ("strides", Attr::Ints(vec![spec.stride as i64; 2])),
                    ("pads", Attr::Ints(pads)),
                ];
                if spec.dilation > 1 {
                    attrs.push(("dilations", Attr::Ints(vec![spec.dilation as i64; 2])));
                }
                if groups > 1 {
                    attrs.push(("group", Attr::Int(groups)));
                }
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
                    &attrs,
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
            QOp::Add { a, b: bb, .. } | QOp::Mul { a, b: bb, .. } => {
                let (mut fa, fb) = (dq(&mut b, *a), dq(&mut b, *bb));
                let name = op.name();
                let mut f = format!("op{k}_{}", name.to_lowercase());
                // A vector repeated over rows: `a` as `[rows, n]`, broadcast, then back.
                let columns = row_vector(g.tensors[*bb].shape);
                if let Some(n) = columns {
                    let rows = (g.tensors[*a].len() / n) as i64;
                    let s = b.init_i64(&format!("op{k}_rows"), &[2], &[rows, n as i64]);
                    b.node("Reshape", &[&fa, &s], &[&format!("op{k}_a_rows")], &[]);
                    fa = format!("op{k}_a_rows");
                }
                b.node(name, &[&fa, &fb], &[&f], &[]);
                if columns.is_some() {
                    let s = b.init_i64(&format!("op{k}_shape"), &[4], &dims4(oshape));
                    let back = format!("op{k}_back");
                    b.node("Reshape", &[&f, &s], &[&back], &[]);
                    f = back;
                }
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
                    &[1.0, 1.0, factor[0] as f32, factor[1] as f32],
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
            QOp::GroupNorm { .. } | QOp::LayerNorm { .. } => group_norm(&mut b, k, g, op),
            QOp::Move { input, how, .. } => {
                let n = |s: &str| format!("op{k}_{s}");
                let body = match how {
                    Movement::Transpose { dims, perm } => {
                        let v = view(&mut b, k, "", &name(*input), &dims.map(|d| d as i64));
                        let perm = perm.iter().map(|p| *p as i64).collect();
                        b.node(
                            "Transpose",
                            &[&v],
                            &[&n("transpose")],
                            &[("perm", Attr::Ints(perm))],
                        );
                        n("transpose")
                    }
                    Movement::Slice(sg) => {
                        let outer = g.tensors[*input].len() / (sg.axis * sg.inner).max(1);
                        let dims = [outer, sg.axis, sg.inner].map(|d| d as i64);
                        let v = view(&mut b, k, "", &name(*input), &dims);
                        let (start, end) = (sg.start as i64, (sg.start + sg.len) as i64);
                        let starts = b.init_i64(&n("starts"), &[1], &[start]);
                        let ends = b.init_i64(&n("ends"), &[1], &[end]);
                        let axes = b.init_i64(&n("axes"), &[1], &[1]);
                        b.node("Slice", &[&v, &starts, &ends, &axes], &[&n("slice")], &[]);
                        n("slice")
                    }
                    // int8 in, int8 out: max selects values, whatever their quantization.
                    Movement::MaxPool(pg) => {
                        let dims = [1, pg.in_c, pg.in_h, pg.in_w].map(|d| d as i64);
                        let v = view(&mut b, k, "", &name(*input), &dims);
                        let [ph, pw] = [pg.pad_h, pg.pad_w].map(|p| p as i64);
                        let mut attrs = vec![
                            (
                                "kernel_shape",
                                Attr::Ints(vec![pg.k_h as i64, pg.k_w as i64]),
                            ),
                            ("strides", Attr::Ints(vec![pg.stride as i64; 2])),
                            ("pads", Attr::Ints(vec![ph, pw, ph, pw])),
                        ];
                        if pg.dilation > 1 {
                            attrs.push(("dilations", Attr::Ints(vec![pg.dilation as i64; 2])));
                        }
                        b.node("MaxPool", &[&v], &[&n("maxpool")], &attrs);
                        n("maxpool")
                    }
                };
                back(&mut b, k, &body, &name(out), oshape);
            }
            QOp::MatMul {
                a,
                b: bb,
                geometry: mg,
                ..
            } => {
                let MatMulGeometry {
                    batch,
                    m,
                    k: depth,
                    n,
                } = *mg;
                let dims = |r: usize, c: usize| [batch as i64, r as i64, c as i64];
                let va = view(&mut b, k, "a_", &name(*a), &dims(m, depth));
                let vb = view(&mut b, k, "b_", &name(*bb), &dims(depth, n));
                let (qa, qb, qy) = (
                    row0[g.tensors[*a].qparam],
                    row0[g.tensors[*bb].qparam],
                    row0[g.tensors[out].qparam],
                );
                // As QLinearConv: scales 1 and the multiplier itself, so that every engine
                // requantizes with the device's multiplier.
                let ms = b.init_f32(
                    &format!("op{k}_multiplier"),
                    &[],
                    &[multiplier(qa.scale, qb.scale, qy.scale)],
                );
                let one = b.init_f32(&format!("op{k}_unit_scale"), &[], &[1.0]);
                let mm = format!("op{k}_matmul");
                b.node(
                    "QLinearMatMul",
                    &[&va, &one, &zp(*a), &vb, &ms, &zp(*bb), &one, &zp(out)],
                    &[&mm],
                    &[],
                );
                back(&mut b, k, &mm, &name(out), oshape);
            }
            QOp::Softmax {
                input, n, table, ..
            } => {
                let rows = g.tensors[*input].len() / (*n).max(1);
                let v = view(&mut b, k, "", &name(*input), &[rows as i64, *n as i64]);
                let body = integer_softmax(&mut b, k, &v, table);
                back(&mut b, k, &body, &name(out), oshape);
            }
            QOp::Embed { table, by, .. } => {
                let len = g.tensors[out].len() as i64;
                let rows = table.len() as i64 / len.max(1);
                let t = b.init_i8(&format!("op{k}_table"), &[rows, len], table);
                let joint = format!("op{k}_index");
                let constant = format!("op{k}_const_row");
                let index = match by {
                    EmbedIndex::Const => {
                        b.init_i64(&constant, &[1], &[0]);
                        &constant
                    }
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
    // The output's storage can differ from the sample's (a DiT's unpatchify transpose).
    if flat || g.tensors[g.output].shape != sample {
        let s = b.init_i64(
            &format!("out_shape{}", x_dims.len()),
            &[x_dims.len() as i64],
            &x_dims,
        );
        b.node("Reshape", &[&fo, &s], &["eps"], &[]);
    } else {
        b.node("Identity", &[&fo], &["eps"], &[]);
    }
    b.output("eps", DataType::Float, &x_dims);
    let mut m = b.finish();
    stash_unused(&mut m);
    m.metadata_props
        .push(entry(META_PREDICTION, prediction_name(g.prediction).into()));
    m.metadata_props.push(entry(
        META_TIMESTEPS,
        timesteps
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(","),
    ));
    m.metadata_props
        .push(entry(META_GUIDANCE, g.guidance.to_string()));
    let names: Vec<&str> = g.tensors.iter().map(|t| t.name.as_str()).collect();
    m.metadata_props.push(entry(META_NAMES, names.join("\n")));
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
        m.metadata_props.push(entry(META_QPARAMS, rows.join(";")));
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
            graph.output.push(crate::onnx::build::value_info(
                &format!("t{t}"),
                DataType::Int8,
                &dims4(g.tensors[t].shape),
            ));
        }
    }
}

/// GroupNorm, LayerNorm and RMSNorm as the kernel computes them (runtime
/// `kernels::reference::norm`): integer statistics, then the same `f32` operations in the same
/// order, ending in a QuantizeLinear of scale 1 (round half to even, add the zero point,
/// saturate); `op` is a [`QOp::GroupNorm`] or [`QOp::LayerNorm`] (nothing is written for any
/// other op). The source `gamma`, `beta` and `eps` (and for a LayerNorm `op{k}_layer` = `[n,
/// center]`) are kept as initializers no node reads, so [`read`] recovers the op exactly.
fn group_norm(b: &mut GraphBuilder, k: usize, g: &QGraph, op: &QOp) {
    let n = |s: &str| format!("op{k}_{s}");
    let (input, out, gamma, beta, eps, center, grouped) = match op {
        QOp::GroupNorm {
            input,
            output,
            groups,
            gamma,
            beta,
            eps,
        } => {
            let [c, h, w] = g.tensors[*output].shape;
            let grouped = [*groups, c / (*groups).max(1), h * w];
            (*input, *output, gamma, beta, *eps, true, grouped)
        }
        QOp::LayerNorm {
            input,
            output,
            n: len,
            gamma,
            beta,
            eps,
            center,
        } => {
            let rows = g.tensors[*output].len() / (*len).max(1);
            b.init_i64(&n("layer"), &[2], &[*len as i64, i64::from(*center)]);
            (*input, *output, gamma, beta, *eps, *center, [rows, *len, 1])
        }
        _ => return,
    };
    let row0 = &g.qparams[0];
    let (qx, qy) = (row0[g.tensors[input].qparam], row0[g.tensors[out].qparam]);
    let [groups, per_group, plane] = grouped;
    let n_values = per_group * plane;
    b.init_f32(&n("gamma"), &[gamma.len() as i64], gamma);
    b.init_f32(&n("beta"), &[beta.len() as i64], beta);
    b.init_f32(&n("eps"), &[], &[eps]);
    let grouped = [1, groups as i64, per_group as i64, plane as i64];
    let shape_g = b.init_i64(&n("shape_g"), &[4], &grouped);
    let shape = b.init_i64(&n("shape"), &[4], &dims4(g.tensors[out].shape));
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
    // GroupNorm: one value per channel of each group; LayerNorm: one per position of the
    // axis, the same for every row.
    let affine_dims = if gamma.len() == per_group {
        [1, 1, per_group as i64, 1]
    } else {
        [1, groups as i64, per_group as i64, 1]
    };
    let gs = b.init_f32(&n("gamma_q"), &affine_dims, &gs);
    let bs = b.init_f32(&n("beta_q"), &affine_dims, &bs);
    let x = format!("t{input}");
    let to = |t: DataType| [("to", Attr::Int(t as i64))];
    // Sums in int32 (exact below 33,000 values per group, the pack's limit), `n s2 - s1^2`
    // in f64 (every integer below 2^53 is exact), rounded once to f32 as the device's i64.
    // RMSNorm takes s1 as 0.
    b.node("Cast", &[&x], &[&n("x32")], &to(DataType::Int32));
    b.node("Sub", &[&n("x32"), &zx], &[&n("d")], &[]);
    b.node("Reshape", &[&n("d"), &shape_g], &[&n("dg")], &[]);
    let sum = [("keepdims", Attr::Int(1))];
    if center {
        b.node("ReduceSum", &[&n("dg"), &axes], &[&n("s1")], &sum);
    }
    b.node("Mul", &[&n("dg"), &n("dg")], &[&n("d2")], &[]);
    b.node("ReduceSum", &[&n("d2"), &axes], &[&n("s2")], &sum);
    if center {
        b.node("Cast", &[&n("s1")], &[&n("s1_f64")], &to(DataType::Double));
    }
    b.node("Cast", &[&n("s2")], &[&n("s2_f64")], &to(DataType::Double));
    b.node("Mul", &[&n("s2_f64"), &count64], &[&n("ns2")], &[]);
    let v = if center {
        b.node("Mul", &[&n("s1_f64"), &n("s1_f64")], &[&n("s1s1")], &[]);
        b.node("Sub", &[&n("ns2"), &n("s1s1")], &[&n("v")], &[]);
        n("v")
    } else {
        n("ns2")
    };
    b.node("Cast", &[&v], &[&n("vf")], &to(DataType::Float));
    b.node("Add", &[&n("vf"), &offset], &[&n("den")], &[]);
    b.node("Sqrt", &[&n("den")], &[&n("sqrt")], &[]);
    b.node("Div", &[&one, &n("sqrt")], &[&n("inv")], &[]);
    b.node("Mul", &[&n("inv"), &gs], &[&n("a")], &[]);
    b.node("Mul", &[&n("dg"), &count], &[&n("nd")], &[]);
    let u = if center {
        b.node("Sub", &[&n("nd"), &n("s1")], &[&n("u")], &[]);
        n("u")
    } else {
        n("nd")
    };
    b.node("Cast", &[&u], &[&n("uf")], &to(DataType::Float));
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

/// The int8 `[1, c, h, w]` tensor `x` (zero point `zp`) with `up - 1` zero-point values after
/// each row and column (`Reshape` to `[1, c, h, 1, w, 1]`, `Pad`, `Reshape`): the input of a
/// transposed conv's equivalent conv, `op{k}_stuffed`, with `crop` (<= 0) trailing rows and
/// columns removed (`op{k}_cropped`).
fn stuffed(
    b: &mut GraphBuilder,
    k: usize,
    (x, zp): (&str, &str),
    [c, h, w]: [usize; 3],
    up: usize,
    crop: i64,
) -> String {
    let n = |s: &str| format!("op{k}_{s}");
    let (c, h, w, up) = (c as i64, h as i64, w as i64, up as i64);
    let grid = b.init_i64(&n("grid_shape"), &[6], &[1, c, h, 1, w, 1]);
    b.node("Reshape", &[x, &grid], &[&n("grid")], &[]);
    let pads = b.init_i64(
        &n("pads"),
        &[12],
        &[0, 0, 0, 0, 0, 0, 0, 0, 0, up - 1, 0, up - 1],
    );
    b.node("Pad", &[&n("grid"), &pads, zp], &[&n("padded")], &[]);
    let flat = b.init_i64(&n("stuffed_shape"), &[4], &[1, c, h * up, w * up]);
    b.node("Reshape", &[&n("padded"), &flat], &[&n("stuffed")], &[]);
    if crop == 0 {
        return n("stuffed");
    }
    let starts = b.init_i64(&n("crop_starts"), &[2], &[0, 0]);
    let ends = b.init_i64(&n("crop_ends"), &[2], &[h * up + crop, w * up + crop]);
    let axes = b.init_i64(&n("crop_axes"), &[2], &[2, 3]);
    b.node(
        "Slice",
        &[&n("stuffed"), &starts, &ends, &axes],
        &[&n("cropped")],
        &[],
    );
    n("cropped")
}

/// `Reshape(x, dims)` as `op{k}_{prefix}in`, the view a movement, matmul or softmax op reads
/// (its shape `op{k}_{prefix}view`, which [`super::read`] reads back).
fn view(b: &mut GraphBuilder, k: usize, prefix: &str, x: &str, dims: &[i64]) -> String {
    let shape = b.init_i64(&format!("op{k}_{prefix}view"), &[dims.len() as i64], dims);
    let out = format!("op{k}_{prefix}in");
    b.node("Reshape", &[x, &shape], &[&out], &[]);
    out
}

/// The shape of the int8 model's input `x` and output for a sample stored as `[c, h, w]`: the
/// float model's interface, a vector `[1, d]`, a 1-D signal `[1, c, L]` (stored as
/// `[c, 1, L]`) or an image `[1, c, h, w]`; inside, every tensor is `[1, c, h, w]`.
pub fn interface_dims(sample: [usize; 3]) -> Vec<usize> {
    match sample {
        [d, 1, 1] => vec![1, d],
        [c, 1, l] => vec![1, c, l],
        [c, h, w] => vec![1, c, h, w],
    }
}

/// `Reshape(body, [1, c, h, w])` into the op's output tensor `t`.
fn back(b: &mut GraphBuilder, k: usize, body: &str, t: &str, shape: [usize; 3]) {
    let s = b.init_i64(&format!("op{k}_shape"), &[4], &dims4(shape));
    b.node("Reshape", &[body, &s], &[t], &[]);
}

/// The integer softmax of `runtime::kernels::reference::softmax` over the last axis of the
/// int8 `[rows, n]` tensor `x`, every step in int32; returns the int8 result `op{k}_softmax`.
/// The exponential table is `op{k}_table`.
fn integer_softmax(b: &mut GraphBuilder, k: usize, x: &str, table: &[u16; 256]) -> String {
    let n = |s: &str| format!("op{k}_{s}");
    let t: Vec<i32> = table.iter().map(|v| i32::from(*v)).collect();
    let t = b.init_i32(&n("table"), &[256], &t);
    let c = |b: &mut GraphBuilder, s: &str, v: i32| b.init_i32(&n(s), &[], &[v]);
    let (c256, c2, c255) = (c(b, "c256", 256), c(b, "c2", 2), c(b, "c255", 255));
    let zero = c(b, "zero_point", softmax::OUTPUT.zero_point);
    let axes = b.init_i64(&n("axes"), &[1], &[1]);
    let to = |t: DataType| [("to", Attr::Int(t as i64))];
    let keep = [("keepdims", Attr::Int(1))];
    b.node("Cast", &[x], &[&n("x32")], &to(DataType::Int32));
    b.node(
        "ReduceMax",
        &[&n("x32")],
        &[&n("max")],
        &[("axes", Attr::Ints(vec![1])), ("keepdims", Attr::Int(1))],
    );
    b.node("Sub", &[&n("max"), &n("x32")], &[&n("d")], &[]);
    b.node(
        "Gather",
        &[&t, &n("d")],
        &[&n("e")],
        &[("axis", Attr::Int(0))],
    );
    b.node("ReduceSum", &[&n("e"), &axes], &[&n("sum")], &keep);
    b.node("Mul", &[&n("e"), &c256], &[&n("e256")], &[]);
    b.node("Div", &[&n("sum"), &c2], &[&n("half")], &[]);
    b.node("Add", &[&n("e256"), &n("half")], &[&n("num")], &[]);
    b.node("Div", &[&n("num"), &n("sum")], &[&n("p")], &[]);
    b.node("Min", &[&n("p"), &c255], &[&n("p255")], &[]);
    b.node("Add", &[&n("p255"), &zero], &[&n("q")], &[]);
    b.node("Cast", &[&n("q")], &[&n("softmax")], &to(DataType::Int8));
    n("softmax")
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
    m.metadata_props.push(entry(META_PARAMS, lines.join("\n")));
}
