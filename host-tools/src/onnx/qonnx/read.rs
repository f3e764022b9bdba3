//! Reads an int8 ONNX written by [`super::write`] back into a [`QGraph`].

use super::QModel;
use crate::error::Error;
use crate::ir::{Movement, QGraph, QOp, QTensor};
use crate::onnx::metadata::{
    GUIDANCE as META_GUIDANCE, NAMES as META_NAMES, PARAMS as META_PARAMS,
    PREDICTION as META_PREDICTION, QPARAMS as META_QPARAMS, TIMESTEPS as META_TIMESTEPS,
    parse_prediction,
};
use edgediff_runtime::kernels::quant::QParams;
use edgediff_runtime::kernels::reference::{ConvSpec, MatMulGeometry, SliceGeometry};
use edgediff_runtime::pack::layout::EmbedIndex;
use edgediff_runtime::prediction::PredictionType;
use std::collections::HashMap;
use tract_onnx::pb::ModelProto;

/// The initializers [`stash_unused`] moved to metadata.
fn stashed(m: &ModelProto, file: &str) -> Result<Vec<tract_onnx::pb::TensorProto>, Error> {
    let Some(text) = crate::onnx::metadata::get(m, META_PARAMS) else {
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
        .and_then(crate::onnx::value_dims)
        .map(|d| d.1)
        .ok_or_else(|| bad("input x has no static shape".into()))?;
    let sample = match x_dims.as_slice() {
        [1, d] => [*d as usize, 1, 1],
        [1, c, l] => [*c as usize, 1, *l as usize],
        [1, c, h, w] => [*c as usize, *h as usize, *w as usize],
        other => {
            return Err(bad(format!(
                "input x has shape {other:?}, expected [1, d], [1, c, L] or [1, c, h, w]"
            )));
        }
    };
    let mut input = None;
    let is_embedding = |n: &tract_onnx::pb::NodeProto| {
        n.input
            .first()
            .and_then(|i| producer.get(i))
            .is_some_and(|p| p.op_type == "Gather")
    };
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
                // An element-wise op over rows is reshaped back before its QuantizeLinear.
                let p = match p.op_type.as_str() {
                    "Reshape" => p
                        .input
                        .first()
                        .and_then(|i| producer.get(i).copied())
                        .unwrap_or(p),
                    _ => p,
                };
                let from_dq = |k: usize| -> Result<usize, Error> {
                    let mut i = p.input.get(k).map(String::as_str).unwrap_or("");
                    if let Some(r) = producer.get(i).filter(|r| r.op_type == "Reshape") {
                        i = r.input.first().map(String::as_str).unwrap_or("");
                    }
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
                    "Add" | "Mul" | "Concat" => {
                        let (a, b) = (from_dq(0)?, from_dq(1)?);
                        let (sa, sb) =
                            (shapes[a].unwrap_or_default(), shapes[b].unwrap_or_default());
                        if p.op_type == "Add" {
                            shapes[t] = Some(sa);
                            ops.push(QOp::Add { a, b, output: t });
                        } else if p.op_type == "Mul" {
                            shapes[t] = Some(sa);
                            ops.push(QOp::Mul { a, b, output: t });
                        } else {
                            shapes[t] = Some([sa[0] + sb[0], sa[1], sa[2]]);
                            ops.push(QOp::Concat { a, b, output: t });
                        }
                    }
                    "Resize" => {
                        let a = from_dq(0)?;
                        let scales = f32s(p.input.get(2).map(String::as_str).unwrap_or(""))?;
                        let f = match scales[..] {
                            [1.0, 1.0, h, w] if h >= 1.0 && w >= 1.0 => [h as usize, w as usize],
                            _ => {
                                return Err(bad(format!(
                                    "Resize `{}`: scales {scales:?}, expected [1, 1, h, w]",
                                    p.name
                                )));
                            }
                        };
                        let s = shapes[a].unwrap_or_default();
                        shapes[t] = Some([s[0], s[1] * f[0], s[2] * f[1]]);
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
                // A transposed conv reads `op{k}_stuffed` (or `_cropped`) of its input.
                let stuffing = n.input[0]
                    .strip_suffix("_stuffed")
                    .or_else(|| n.input[0].strip_suffix("_cropped"));
                let x = match stuffing {
                    None => id(&n.input[0]),
                    Some(k) => producer
                        .get(&format!("{k}_grid"))
                        .and_then(|r| id(r.input.first()?)),
                }
                .ok_or_else(|| bad(format!("QLinearConv `{}` reads `{}`", n.name, n.input[0])))?;
                let (up, out_pad) = match stuffing {
                    None => (1, 0),
                    Some(k) => {
                        let one = |s: &str| -> Result<usize, Error> {
                            let v = i64s(&format!("{k}_{s}"))?;
                            v.first().map(|v| *v as usize).ok_or_else(|| {
                                bad(format!("QLinearConv `{}`: empty `{k}_{s}`", n.name))
                            })
                        };
                        let shape = i64s(&format!("{k}_stuffed_shape"))?;
                        let s = shapes[x].unwrap_or_default();
                        let up = shape.get(2).map_or(0, |v| *v as usize) / s[1].max(1);
                        (up, one("out_pad")?)
                    }
                };
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
                let dilations = ints("dilations", 1, 2);
                let groups = attr(n, "group").map_or(1, |a| a.i);
                let dilation = match dilations[..] {
                    [a, b] if a == b && (1..=256).contains(&a) => a as usize,
                    _ => {
                        return Err(bad(format!(
                            "QLinearConv `{}`: dilations {dilations:?}: expected two equal values \
                             in 1..=256",
                            n.name
                        )));
                    }
                };
                if !(1..=256).contains(&groups) || (up > 1 && (groups > 1 || dilation > 1)) {
                    return Err(bad(format!(
                        "QLinearConv `{}`: group {groups}: expected 1..=256 (1 for a transposed \
                         conv, undilated)",
                        n.name
                    )));
                }
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
                // Symmetric padding per axis; a transposed conv (equal on both axes) has its own
                // end padding (the stuffing supplies part).
                let in_range = |v: &i64| (0..=255).contains(v);
                let pad = match pads[..] {
                    [a, b, c, d] if up > 1 && a == b && c == d && in_range(&a) => [a, a],
                    [a, b, c, d] if up == 1 && a == c && b == d && in_range(&a) && in_range(&b) => {
                        [a, b]
                    }
                    _ => {
                        return Err(bad(format!(
                            "QLinearConv `{}`: pads {pads:?}: expected the same padding at both \
                             ends of each axis, in 0..=255",
                            n.name
                        )));
                    }
                }
                .map(|p| p as usize);
                let s = shapes[x].ok_or_else(|| bad(format!("t{x} used before defined")))?;
                let spec = ConvSpec {
                    pad,
                    dilation,
                    groups: groups as usize,
                    up,
                    out_pad,
                    ..ConvSpec::new([kh, kw], stride, 0)
                };
                let geometry = spec.on(s, oc);
                let (Some(oh), Some(ow)) = (geometry.out_h(), geometry.out_w()) else {
                    return Err(bad(format!(
                        "QLinearConv `{}`: kernel {kh}x{kw} does not fit the input {s:?} padded \
                         by {pad:?}",
                        n.name
                    )));
                };
                if oc == 0 || up == 0 || geometry.group_in() == 0 {
                    return Err(bad(format!(
                        "QLinearConv `{}`: {oc} output channels, group {groups}, input {s:?}: \
                         need output channels, and the group dividing both channel counts",
                        n.name
                    )));
                }
                shapes[t] = Some([oc, oh, ow]);
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
                    spec,
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
            "Reshape" if id(&out).is_some() && !is_embedding(n) => {
                // A movement, matmul or softmax op: Reshape(t{x}, op{k}_view) = op{k}_in ->
                // body `op{k}_<kind>` -> Reshape into t{i}.
                let t = id(&out).ok_or_else(|| bad("internal".into()))?;
                let body = n.input.first().map(String::as_str).unwrap_or("");
                let (k, kind) = body
                    .rsplit_once('_')
                    .filter(|(k, _)| k.starts_with("op"))
                    .ok_or_else(|| bad(format!("Reshape `{}` reads `{body}`", n.name)))?;
                let dims = i64s(&n.input[1])?;
                let [_, c, h, w] = dims[..] else {
                    return Err(bad(format!("Reshape `{}`: shape must be 4-D", n.name)));
                };
                shapes[t] = Some([c, h, w].map(|d| d as usize));
                let view = |prefix: &str| -> Result<(usize, Vec<usize>), Error> {
                    let r = producer
                        .get(&format!("{k}_{prefix}in"))
                        .ok_or_else(|| bad(format!("`{body}`: no view `{k}_{prefix}in`")))?;
                    let x = r.input.first().and_then(|i| id(i)).ok_or_else(|| {
                        bad(format!("`{k}_{prefix}in` does not reshape a t{{i}} tensor"))
                    })?;
                    let d = i64s(&format!("{k}_{prefix}view"))?;
                    Ok((x, d.iter().map(|v| *v as usize).collect()))
                };
                let node = producer
                    .get(body)
                    .ok_or_else(|| bad(format!("`{body}` is not written by any node")))?;
                let sizes = |what: &str, d: &[usize], len: usize| -> Result<(), Error> {
                    (d.len() == len)
                        .then_some(())
                        .ok_or_else(|| bad(format!("`{body}`: {what} view {d:?} is not {len}-D")))
                };
                let op = match kind {
                    "transpose" => {
                        let (x, d) = view("")?;
                        sizes("transpose", &d, 4)?;
                        let p = attr(node, "perm").map(|a| a.ints).unwrap_or_default();
                        let perm: Vec<usize> = p.iter().map(|v| *v as usize).collect();
                        let (Ok(dims), Ok(perm)) = (d.try_into(), perm.try_into()) else {
                            return Err(bad(format!("`{body}`: perm {p:?} is not 4 axes")));
                        };
                        QOp::Move {
                            input: x,
                            output: t,
                            how: Movement::Transpose { dims, perm },
                        }
                    }
                    "slice" => {
                        let (x, d) = view("")?;
                        sizes("slice", &d, 3)?;
                        let one = |s: &str| -> Result<usize, Error> {
                            let v = i64s(&format!("{k}_{s}"))?;
                            v.first()
                                .map(|v| *v as usize)
                                .ok_or_else(|| bad(format!("`{body}`: empty `{k}_{s}`")))
                        };
                        let (start, end) = (one("starts")?, one("ends")?);
                        QOp::Move {
                            input: x,
                            output: t,
                            how: Movement::Slice(SliceGeometry {
                                axis: d[1],
                                start,
                                len: end.saturating_sub(start),
                                inner: d[2],
                            }),
                        }
                    }
                    "maxpool" => {
                        let (x, d) = view("")?;
                        let ints = |a: &str, default: i64, len: usize| {
                            attr(node, a).map_or(vec![default; len], |a| a.ints.clone())
                        };
                        let (ks, strides, pads, dil) = (
                            ints("kernel_shape", 0, 2),
                            ints("strides", 1, 2),
                            ints("pads", 0, 4),
                            ints("dilations", 1, 2),
                        );
                        let (Ok([c, h, w]), &[kh, kw], &[s, s2], &[ph, pw, ph2, pw2], &[dl, dl2]) = (
                            <[usize; 3]>::try_from(d.get(1..).unwrap_or(&[])),
                            &ks[..],
                            &strides[..],
                            &pads[..],
                            &dil[..],
                        ) else {
                            return Err(bad(format!(
                                "`{body}`: a 2-D MaxPool of a [1, c, h, w] view expected"
                            )));
                        };
                        if s != s2 || ph != ph2 || pw != pw2 || dl != dl2 {
                            return Err(bad(format!(
                                "`{body}`: strides {strides:?}, pads {pads:?}, dilations \
                                 {dil:?}: expected equal strides and dilations, the same \
                                 padding at both ends of each axis"
                            )));
                        }
                        let spec = ConvSpec {
                            pad: [ph, pw].map(|p| p.max(0) as usize),
                            dilation: dl.max(1) as usize,
                            ..ConvSpec::new(
                                [kh, kw].map(|k| k.max(1) as usize),
                                s.max(1) as usize,
                                0,
                            )
                        };
                        QOp::Move {
                            input: x,
                            output: t,
                            how: Movement::MaxPool(spec.on([c, h, w], c)),
                        }
                    }
                    "matmul" => {
                        let ((a, da), (b, db)) = (view("a_")?, view("b_")?);
                        sizes("left", &da, 3)?;
                        sizes("right", &db, 3)?;
                        QOp::MatMul {
                            a,
                            b,
                            output: t,
                            geometry: MatMulGeometry {
                                batch: da[0],
                                m: da[1],
                                k: da[2],
                                n: db[2],
                            },
                        }
                    }
                    "softmax" => {
                        let (x, d) = view("")?;
                        sizes("softmax", &d, 2)?;
                        let tv = i32s(&format!("{k}_table"))?;
                        let table: Vec<u16> = tv
                            .iter()
                            .map(|v| u16::try_from(*v).unwrap_or(u16::MAX))
                            .collect();
                        let table = table.try_into().map_err(|_| {
                            bad(format!("`{body}`: `{k}_table` must have 256 entries"))
                        })?;
                        QOp::Softmax {
                            input: x,
                            output: t,
                            n: d[1],
                            table,
                        }
                    }
                    other => {
                        return Err(bad(format!(
                            "Reshape `{}` reads `{body}`: unknown op kind `{other}`",
                            n.name
                        )));
                    }
                };
                ops.push(op);
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
                    i if i.ends_with("_const_row") => EmbedIndex::Const,
                    _ => EmbedIndex::StepClass,
                };
                ops.push(QOp::Embed {
                    output: t,
                    table,
                    by,
                });
            }
            "Sqrt" => {
                // The GroupNorm / LayerNorm pattern written by `group_norm`: op{k}_x32 = Cast(t{x}) ...
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
                let (gamma, beta) = (f32s(&format!("{k}_gamma"))?, f32s(&format!("{k}_beta"))?);
                let layer = format!("{k}_layer");
                ops.push(match inits.contains_key(layer.as_str()) {
                    false => QOp::GroupNorm {
                        input: x,
                        output: t,
                        groups,
                        gamma,
                        beta,
                        eps,
                    },
                    true => match i64s(&layer)?[..] {
                        [n, center] => QOp::LayerNorm {
                            input: x,
                            output: t,
                            n: n as usize,
                            gamma,
                            beta,
                            eps,
                            center: center != 0,
                        },
                        _ => return Err(bad(format!("LayerNorm `{k}`: bad `{layer}`"))),
                    },
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
