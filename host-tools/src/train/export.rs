//! Writes a trained MLP denoiser as a float ONNX model: opset 13, static batch 1, the timestep
//! an explicit int64 input, Linear as Gemm and SiLU as Sigmoid * Mul (the forms
//! `torch.onnx.export` produces).

use super::mlp::MlpSpec;
use super::unet::{self, UNetSpec};
use crate::onnx::build::{Attr, GraphBuilder};
use crate::onnx::metadata;
use edgediff_runtime::prediction::PredictionType;
use std::collections::BTreeMap;
use tract_onnx::pb::ModelProto;
use tract_onnx::pb::tensor_proto::DataType;

/// Named float tensors: shape and values.
pub type Weights = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

fn silu(g: &mut GraphBuilder, x: &str, name: &str) -> String {
    let s = format!("{name}_sigmoid");
    g.node("Sigmoid", &[x], &[&s], &[]);
    g.node("Mul", &[x, &s], &[name], &[]);
    name.to_string()
}

fn gemm(g: &mut GraphBuilder, w: &Weights, layer: &str, x: &str, out: &str) -> Option<String> {
    let (wd, wv) = w.get(&format!("{layer}.weight"))?;
    let (bd, bv) = w.get(&format!("{layer}.bias"))?;
    let wn = g.init_f32(
        &format!("{layer}.weight"),
        &[wd[0] as i64, wd[1] as i64],
        wv,
    );
    let bn = g.init_f32(&format!("{layer}.bias"), &[bd[0] as i64], bv);
    g.node("Gemm", &[x, &wn, &bn], &[out], &[("transB", Attr::Int(1))]);
    Some(out.to_string())
}

/// The ONNX model of an MLP denoiser with `weights` (candle names: `t1.weight`, ...).
pub fn mlp_onnx(
    spec: &MlpSpec,
    weights: &Weights,
    prediction: PredictionType,
) -> Option<ModelProto> {
    let mut g = GraphBuilder::new("edgediff_mlp");
    let d = spec.dim as i64;
    g.input("x", DataType::Float, &[1, d]);
    g.input("t", DataType::Int64, &[1]);
    if spec.num_classes > 0 {
        g.input("label", DataType::Int64, &[1]);
    }
    // Time path: sinusoidal embedding and time MLP.
    g.node(
        "Cast",
        &["t"],
        &["t_float"],
        &[("to", Attr::Int(DataType::Float as i64))],
    );
    let shape = g.init_i64("t_shape", &[2], &[1, 1]);
    g.node("Reshape", &["t_float", &shape], &["t_col"], &[]);
    let freqs = g.init_f32("freqs", &[1, spec.temb as i64 / 2], &spec.frequencies());
    g.node("Mul", &["t_col", &freqs], &["t_arg"], &[]);
    g.node("Sin", &["t_arg"], &["t_sin"], &[]);
    g.node("Cos", &["t_arg"], &["t_cos"], &[]);
    g.node(
        "Concat",
        &["t_sin", "t_cos"],
        &["t_emb"],
        &[("axis", Attr::Int(1))],
    );
    gemm(&mut g, weights, "t1", "t_emb", "t1_out")?;
    let a = silu(&mut g, "t1_out", "t1_act");
    gemm(&mut g, weights, "t2", &a, "temb")?;
    // Sample path.
    gemm(&mut g, weights, "in", "x", "in_out")?;
    g.node("Add", &["in_out", "temb"], &["h_t"], &[]);
    let mut h = "h_t".to_string();
    if spec.num_classes > 0 {
        let (ed, ev) = weights.get("cemb.weight")?;
        let table = g.init_f32("cemb.weight", &[ed[0] as i64, ed[1] as i64], ev);
        g.node(
            "Gather",
            &[&table, "label"],
            &["cemb"],
            &[("axis", Attr::Int(0))],
        );
        g.node("Add", &[&h, "cemb"], &["h_c"], &[]);
        h = "h_c".into();
    }
    h = silu(&mut g, &h, "in_act");
    for i in 0..spec.depth {
        let lin = gemm(&mut g, weights, &format!("h{i}"), &h, &format!("h{i}_out"))?;
        h = silu(&mut g, &lin, &format!("h{i}_act"));
    }
    gemm(&mut g, weights, "out", &h, "eps")?;
    g.output("eps", DataType::Float, &[1, d]);
    let mut model = g.finish();
    model.metadata_props.push(metadata::entry(
        metadata::PREDICTION,
        metadata::prediction_name(prediction).into(),
    ));
    Some(model)
}

fn conv(
    g: &mut GraphBuilder,
    w: &Weights,
    layer: &str,
    x: &str,
    out: &str,
    stride: i64,
    pad: i64,
) -> Option<String> {
    let (wd, wv) = w.get(&format!("{layer}.weight"))?;
    let (bd, bv) = w.get(&format!("{layer}.bias"))?;
    let dims: Vec<i64> = wd.iter().map(|d| *d as i64).collect();
    let wn = g.init_f32(&format!("{layer}.weight"), &dims, wv);
    let bn = g.init_f32(&format!("{layer}.bias"), &[bd[0] as i64], bv);
    g.node(
        "Conv",
        &[x, &wn, &bn],
        &[out],
        &[
            ("kernel_shape", Attr::Ints(vec![dims[2], dims[3]])),
            ("strides", Attr::Ints(vec![stride, stride])),
            ("pads", Attr::Ints(vec![pad; 4])),
        ],
    );
    Some(out.to_string())
}

/// GroupNorm as PyTorch exports it: Reshape [1, G, -1] -> InstanceNormalization -> Reshape ->
/// Mul(gamma) -> Add(beta).
fn group_norm(
    g: &mut GraphBuilder,
    w: &Weights,
    layer: &str,
    x: &str,
    shape: [i64; 3],
) -> Option<String> {
    let groups = unet::GROUPS as i64;
    let s1 = g.init_i64(&format!("{layer}.shape_g"), &[3], &[1, groups, -1]);
    let s2 = g.init_i64(
        &format!("{layer}.shape"),
        &[4],
        &[1, shape[0], shape[1], shape[2]],
    );
    let ones = g.init_f32(
        &format!("{layer}.in_scale"),
        &[groups],
        &[1.0; unet::GROUPS],
    );
    let zeros = g.init_f32(&format!("{layer}.in_bias"), &[groups], &[0.0; unet::GROUPS]);
    let (_, gv) = w.get(&format!("{layer}.weight"))?;
    let (_, bv) = w.get(&format!("{layer}.bias"))?;
    let gm = g.init_f32(&format!("{layer}.gamma"), &[shape[0], 1, 1], gv);
    let bt = g.init_f32(&format!("{layer}.beta"), &[shape[0], 1, 1], bv);
    let n = |s: &str| format!("{layer}.{s}");
    g.node("Reshape", &[x, &s1], &[&n("grouped")], &[]);
    g.node(
        "InstanceNormalization",
        &[&n("grouped"), &ones, &zeros],
        &[&n("normed")],
        &[("epsilon", Attr::Float(1e-5))],
    );
    g.node("Reshape", &[&n("normed"), &s2], &[&n("back")], &[]);
    g.node("Mul", &[&n("back"), &gm], &[&n("scaled")], &[]);
    g.node("Add", &[&n("scaled"), &bt], &[&n("out")], &[]);
    Some(n("out"))
}

/// The ONNX model of a U-Net denoiser (input and output `[1, 1, 8, 8]`).
pub fn unet_onnx(spec: &UNetSpec, w: &Weights, prediction: PredictionType) -> Option<ModelProto> {
    let mut g = GraphBuilder::new("edgediff_unet");
    let side = unet::SIDE as i64;
    g.input("x", DataType::Float, &[1, 1, side, side]);
    g.input("t", DataType::Int64, &[1]);
    if spec.num_classes > 0 {
        g.input("label", DataType::Int64, &[1]);
    }
    g.node(
        "Cast",
        &["t"],
        &["t_float"],
        &[("to", Attr::Int(DataType::Float as i64))],
    );
    let shape = g.init_i64("t_shape", &[2], &[1, 1]);
    g.node("Reshape", &["t_float", &shape], &["t_col"], &[]);
    let freqs = g.init_f32(
        "freqs",
        &[1, spec.temb as i64 / 2],
        &super::mlp::sinusoidal_frequencies(spec.temb),
    );
    g.node("Mul", &["t_col", &freqs], &["t_arg"], &[]);
    g.node("Sin", &["t_arg"], &["t_sin"], &[]);
    g.node("Cos", &["t_arg"], &["t_cos"], &[]);
    g.node(
        "Concat",
        &["t_sin", "t_cos"],
        &["t_emb"],
        &[("axis", Attr::Int(1))],
    );
    gemm(&mut g, w, "t1", "t_emb", "t1_out")?;
    let a = silu(&mut g, "t1_out", "t1_act");
    gemm(&mut g, w, "t2", &a, "temb")?;
    // Per-block conditioning terms: timestep-only and label-only, reshaped to [1, o, 1, 1].
    for (b, _, o) in unet::blocks(spec) {
        let s = g.init_i64(&format!("{b}.cond_shape"), &[4], &[1, o as i64, 1, 1]);
        gemm(
            &mut g,
            w,
            &format!("{b}.t_proj"),
            "temb",
            &format!("{b}.tp2"),
        )?;
        g.node(
            "Reshape",
            &[&format!("{b}.tp2"), &s],
            &[&format!("{b}.tp")],
            &[],
        );
        if spec.num_classes > 0 {
            let (ed, ev) = w.get(&format!("{b}.c_emb.weight"))?;
            let t = g.init_f32(
                &format!("{b}.c_emb.weight"),
                &[ed[0] as i64, ed[1] as i64],
                ev,
            );
            g.node(
                "Gather",
                &[&t, "label"],
                &[&format!("{b}.ce2")],
                &[("axis", Attr::Int(0))],
            );
            g.node(
                "Reshape",
                &[&format!("{b}.ce2"), &s],
                &[&format!("{b}.ce")],
                &[],
            );
        }
    }
    let c = spec.channels as i64;
    let block =
        |g: &mut GraphBuilder, b: &str, x: &str, i: i64, o: i64, hw: i64| -> Option<String> {
            let n1 = group_norm(g, w, &format!("{b}.gn1"), x, [i, hw, hw])?;
            let a1 = silu(g, &n1, &format!("{b}.act1"));
            let c1 = conv(
                g,
                w,
                &format!("{b}.conv1"),
                &a1,
                &format!("{b}.conv1_out"),
                1,
                1,
            )?;
            g.node(
                "Add",
                &[&c1, &format!("{b}.tp")],
                &[&format!("{b}.h_t")],
                &[],
            );
            let mut h = format!("{b}.h_t");
            if spec.num_classes > 0 {
                g.node(
                    "Add",
                    &[&h, &format!("{b}.ce")],
                    &[&format!("{b}.h_c")],
                    &[],
                );
                h = format!("{b}.h_c");
            }
            let n2 = group_norm(g, w, &format!("{b}.gn2"), &h, [o, hw, hw])?;
            let a2 = silu(g, &n2, &format!("{b}.act2"));
            let c2 = conv(
                g,
                w,
                &format!("{b}.conv2"),
                &a2,
                &format!("{b}.conv2_out"),
                1,
                1,
            )?;
            let skip = if i != o {
                conv(
                    g,
                    w,
                    &format!("{b}.skip"),
                    x,
                    &format!("{b}.skip_out"),
                    1,
                    0,
                )?
            } else {
                x.to_string()
            };
            let out = format!("{b}.out");
            g.node("Add", &[&c2, &skip], &[&out], &[]);
            Some(out)
        };
    conv(&mut g, w, "conv_in", "x", "h0", 1, 1)?;
    let h1 = block(&mut g, "rb1", "h0", c, c, side)?;
    conv(&mut g, w, "down", &h1, "d", 2, 1)?;
    let h2 = block(&mut g, "rb2", "d", 2 * c, 2 * c, side / 2)?;
    let scales = g.init_f32("up_scales", &[4], &[1.0, 1.0, 2.0, 2.0]);
    g.node(
        "Resize",
        &[&h2, "", &scales],
        &["up"],
        &[("mode", Attr::Str("nearest"))],
    );
    g.node("Concat", &["up", &h1], &["cat"], &[("axis", Attr::Int(1))]);
    let h3 = block(&mut g, "rb3", "cat", 3 * c, c, side)?;
    let n = group_norm(&mut g, w, "gn_out", &h3, [c, side, side])?;
    let a = silu(&mut g, &n, "out_act");
    conv(&mut g, w, "conv_out", &a, "eps", 1, 1)?;
    g.output("eps", DataType::Float, &[1, 1, side, side]);
    let mut model = g.finish();
    model.metadata_props.push(metadata::entry(
        metadata::PREDICTION,
        metadata::prediction_name(prediction).into(),
    ));
    Some(model)
}
