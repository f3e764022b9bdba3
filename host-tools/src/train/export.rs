//! Writes a trained MLP denoiser as a float ONNX model: opset 13, static batch 1, the timestep
//! an explicit int64 input, Linear as Gemm and SiLU as Sigmoid * Mul (the forms
//! `torch.onnx.export` produces).

use super::mlp::MlpSpec;
use crate::onnx::build::{Attr, GraphBuilder};
use edgediff_runtime::prediction::PredictionType;
use std::collections::BTreeMap;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{ModelProto, StringStringEntryProto};

/// Named float tensors: shape and values.
pub type Weights = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// The name of the metadata key holding the prediction type.
pub const META_PREDICTION: &str = "edgediff.prediction";

/// The prediction type as written in metadata.
pub fn prediction_name(p: PredictionType) -> &'static str {
    match p {
        PredictionType::Epsilon => "epsilon",
        PredictionType::Sample => "sample",
        PredictionType::VPrediction => "v_prediction",
    }
}

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
    model.metadata_props.push(StringStringEntryProto {
        key: META_PREDICTION.into(),
        value: prediction_name(prediction).into(),
    });
    Some(model)
}
