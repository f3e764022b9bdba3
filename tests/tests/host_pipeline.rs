//! host-tools end to end: train -> float ONNX -> quantize -> int8 ONNX -> compile -> pack ->
//! runtime; PyTorch-style graphs; and clear errors for bad models.

use edgediff::compile::writer::write_pack;
use edgediff::data::Toy2d;
use edgediff::ir::FOp;
use edgediff::ir::QOp;
use edgediff::model::evaluate;
use edgediff::onnx::build::{Attr, GraphBuilder};
use edgediff::onnx::import::{ImportOptions, import};
use edgediff::onnx::qonnx;
use edgediff::quantize::calibrate::{CalibConfig, calibrate};
use edgediff::quantize::{fold_bias_into_step_tables, to_qgraph};
use edgediff::train::export::mlp_onnx;
use edgediff::train::mlp::MlpSpec;
use edgediff::train::{Arch, TrainConfig, train};
use edgediff_runtime::engine::Engine;
use edgediff_runtime::pack::Pack;
use edgediff_runtime::pack::layout::EmbedIndex;
use edgediff_runtime::prediction::PredictionType;
use edgediff_runtime::sampler::plan::{self, Plan, PlanConfig, SamplerKind};
use edgediff_runtime::schedule::betas::{BetaSchedule, NoiseSchedule};
use edgediff_runtime::schedule::spacing::Spacing;
use edgediff_tests::layers::compare_layers;
use prost::Message;
use tract_onnx::pb::ModelProto;
use tract_onnx::pb::tensor_proto::DataType;

fn plan() -> Plan {
    let s = NoiseSchedule::new(&BetaSchedule::DDPM_LINEAR, 1000).unwrap();
    let kind = SamplerKind::DPM_SOLVER_PP_2M;
    plan::build(&s, &PlanConfig::new(kind, 8, Spacing::Linspace)).unwrap()
}

fn opts(p: &Plan) -> ImportOptions {
    ImportOptions {
        timesteps: p.rows.iter().map(|r| r.t).collect(),
        prediction: None,
    }
}

/// A small MLP trained for 60 steps, as the float ONNX the trainer writes.
fn trained_mlp() -> ModelProto {
    let spec = MlpSpec {
        dim: 2,
        hidden: 16,
        depth: 1,
        temb: 8,
        num_classes: 0,
    };
    let cfg = TrainConfig {
        steps: 60,
        batch: 64,
        lr: 2e-3,
        ema: 0.9,
        seed: 3,
        objective: PredictionType::Epsilon,
        schedule: NoiseSchedule::new(&BetaSchedule::DDPM_LINEAR, 1000).unwrap(),
        label_dropout: 0.0,
    };
    let trained = train(
        &mut Toy2d::TwoMoons,
        Arch::Mlp(spec),
        &cfg,
        &indicatif::ProgressBar::hidden(),
    )
    .unwrap();
    let model = mlp_onnx(&spec, &trained.weights, PredictionType::Epsilon).unwrap();
    // Round trip through bytes, as a file would.
    ModelProto::decode(model.encode_to_vec().as_slice()).unwrap()
}

#[test]
fn train_export_import_quantize_compile_run() {
    let model = trained_mlp();
    let p = plan();
    let g = import(&model, "trained", &opts(&p)).unwrap();
    let convs = g
        .ops
        .iter()
        .filter(|o| matches!(o, FOp::Conv { .. }))
        .count();
    assert_eq!(convs, 3, "in, h0, out");
    assert!(g.ops.iter().any(|o| matches!(o, FOp::Embed { .. })));
    let ranges = calibrate(&g, &p, &CalibConfig::new(16)).unwrap();
    let q = to_qgraph(&g, &ranges, 1.0);
    let q_onnx = qonnx::write(&q, &opts(&p).timesteps);
    check_quantized_onnx(&q_onnx);
    let back = qonnx::read(
        &ModelProto::decode(q_onnx.encode_to_vec().as_slice()).unwrap(),
        "q",
    )
    .unwrap();
    assert_eq!(back.graph, q, "the int8 ONNX reads back to the same graph");
    let compiled = write_pack(&back.graph, &p, None).unwrap();
    let pack = Pack::parse(&compiled.bytes).unwrap();
    let mut arena = vec![0i8; pack.arena_bytes()];
    let mut engine = Engine::new(pack, &mut arena).unwrap();
    let job = edgediff::sampling::Job {
        plan: &p,
        prediction: PredictionType::Epsilon,
        clip_sample: None,
        dim: 2,
        n: 8,
        labels: &[],
        seed: 1,
    };
    let x = job.run(&mut engine).unwrap();
    assert!(x.iter().all(|v| v.is_finite()));
}

/// `--per-step` on the shipped two-moons model: the input layer's bias moves into the
/// time-embedding table (same float function), so the network input gets a grid per step,
/// fine at the clean steps; tract runs one plan per step and agrees with the runtime on every
/// layer.
#[test]
fn per_step_quantization_gives_the_input_a_grid_per_step() {
    let model = edgediff::onnx::read_model(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/two-moons/float.onnx"),
    )
    .unwrap();
    let p = plan();
    let g = import(&model, "trained", &opts(&p)).unwrap();
    let mut folded = g.clone();
    assert_eq!(fold_bias_into_step_tables(&mut folded), 1);
    let first_bias = |g: &edgediff::ir::FloatGraph| match &g.ops[1] {
        FOp::Conv { bias, .. } => bias.clone(),
        other => panic!("op 1 is {other:?}"),
    };
    assert!(first_bias(&g).iter().any(|b| *b != 0.0));
    assert!(first_bias(&folded).iter().all(|b| *b == 0.0));
    for step in [0, 4, 7] {
        let x = [0.3f32, -1.2];
        let (a, b) = (evaluate(&g, &x, step, 0), evaluate(&folded, &x, step, 0));
        for (u, v) in a[g.output].iter().zip(&b[folded.output]) {
            assert!((u - v).abs() < 1e-5, "step {step}: {u} vs {v}");
        }
    }
    let cfg = CalibConfig {
        per_step: true,
        ..CalibConfig::new(16)
    };
    let ranges = calibrate(&folded, &p, &cfg).unwrap();
    let q = to_qgraph(&folded, &ranges, 1.0);
    let input_scale = |row: usize| q.qparams[row][q.tensors[q.input].qparam].scale;
    assert_eq!(q.qparams.len(), p.rows.len());
    assert!(
        input_scale(p.rows.len() - 1) < 0.8 * input_scale(0),
        "input grid {} at the last step vs {} at the first",
        input_scale(p.rows.len() - 1),
        input_scale(0)
    );
    let timesteps = opts(&p).timesteps;
    let back = qonnx::read(&qonnx::write(&q, &timesteps), "q").unwrap();
    assert_eq!(back.graph, q);
    let pack = write_pack(&q, &p, None).unwrap().bytes;
    let inputs: Vec<(usize, u16, Vec<f32>)> = (0..p.rows.len())
        .flat_map(|s| (0..16).map(move |i| (s, 0, vec![(i as f32 - 8.0) / 3.0, 0.7])))
        .collect();
    let agreement = compare_layers(&back, &pack, &inputs);
    assert!(agreement.iter().all(|a| a.differ == 0), "{agreement:?}");
}

/// onnx.checker-level checks of the int8 form: opset, node types, initializer dtypes/shapes.
fn check_quantized_onnx(m: &ModelProto) {
    assert_eq!(m.opset_import[0].version, 13);
    let g = m.graph.as_ref().unwrap();
    let known = [
        "QuantizeLinear",
        "DequantizeLinear",
        "QLinearConv",
        "Add",
        "Concat",
        "Resize",
        "Cast",
        "Gather",
        "Reshape",
        "Sub",
        "ReduceSum",
        "Sqrt",
        "Div",
        "Mul",
        "Identity",
    ];
    let inits: std::collections::HashMap<_, _> =
        g.initializer.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut defined: std::collections::HashSet<String> = g
        .input
        .iter()
        .map(|i| i.name.clone())
        .chain(inits.keys().map(|k| k.to_string()))
        .collect();
    for n in &g.node {
        assert!(
            known.contains(&n.op_type.as_str()),
            "unexpected op {}",
            n.op_type
        );
        for i in n.input.iter().filter(|i| !i.is_empty()) {
            assert!(
                defined.contains(i),
                "node {} reads {i} before it is defined",
                n.name
            );
        }
        defined.extend(n.output.iter().cloned());
        if n.op_type == "QLinearConv" {
            let w = inits[n.input[3].as_str()];
            assert_eq!(w.data_type, DataType::Int8 as i32);
            assert_eq!(w.dims.len(), 4);
            let oc = w.dims[0];
            assert_eq!(
                inits[n.input[4].as_str()].dims,
                vec![oc],
                "per-channel weight scales"
            );
            assert_eq!(inits[n.input[5].as_str()].data_type, DataType::Int8 as i32);
            let b = inits[n.input[8].as_str()];
            assert_eq!(
                (b.data_type, b.dims.clone()),
                (DataType::Int32 as i32, vec![oc]),
                "int32 bias"
            );
            assert_eq!(w.raw_data.len() as i64, w.dims.iter().product::<i64>());
        }
    }
    assert!(defined.contains("eps"));
}

/// A graph as `torch.onnx.export` writes one: Gemm without transB, MatMul + Add, SiLU as
/// Sigmoid * Mul, GELU through Erf, GroupNorm as Reshape-InstanceNormalization-Reshape-Mul-Add,
/// a conv, nearest Resize and a channel Concat.
fn pytorch_style() -> ModelProto {
    let mut b = GraphBuilder::new("torch_jit");
    b.input("sample", DataType::Float, &[1, 2, 4, 4]);
    b.input("timestep", DataType::Int64, &[1]);
    let w = |n: usize, s: f32| {
        (0..n)
            .map(|i| ((i as f32 * 0.37).sin()) * s)
            .collect::<Vec<_>>()
    };
    // Timestep path: Cast -> Unsqueeze-free Mul -> Sin -> MatMul + Add -> [1, 4].
    b.node("Cast", &["timestep"], &["tf"], &[("to", Attr::Int(1))]);
    let sh = b.init_i64("tshape", &[2], &[1, 1]);
    b.node("Reshape", &["tf", &sh], &["t2"], &[]);
    let fr = b.init_f32("freq", &[1, 3], &[1.0, 0.1, 0.01]);
    b.node("Mul", &["t2", &fr], &["targ"], &[]);
    b.node("Sin", &["targ"], &["tsin"], &[]);
    let tw = b.init_f32("tw", &[3, 4], &w(12, 0.5));
    b.node("MatMul", &["tsin", &tw], &["tmm"], &[]);
    let tb = b.init_f32("tb", &[4], &w(4, 0.1));
    b.node("Add", &["tmm", &tb], &["temb"], &[]);
    let r4 = b.init_i64("r4", &[4], &[1, 4, 1, 1]);
    b.node("Reshape", &["temb", &r4], &["temb4"], &[]);
    // Sample path.
    let cw = b.init_f32("conv.weight", &[4, 2, 3, 3], &w(72, 0.3));
    let cb = b.init_f32("conv.bias", &[4], &w(4, 0.1));
    b.node(
        "Conv",
        &["sample", &cw, &cb],
        &["c1"],
        &[
            ("pads", Attr::Ints(vec![1; 4])),
            ("kernel_shape", Attr::Ints(vec![3, 3])),
        ],
    );
    b.node("Add", &["c1", "temb4"], &["c1t"], &[]);
    let g1 = b.init_i64("g1", &[3], &[1, 2, -1]);
    b.node("Reshape", &["c1t", &g1], &["gn_in"], &[]);
    let ones = b.init_f32("in_scale", &[2], &[1.0, 1.0]);
    let zeros = b.init_f32("in_bias", &[2], &[0.0, 0.0]);
    b.node(
        "InstanceNormalization",
        &["gn_in", &ones, &zeros],
        &["gn_n"],
        &[("epsilon", Attr::Float(1e-5))],
    );
    let g2 = b.init_i64("g2", &[4], &[1, 4, 4, 4]);
    b.node("Reshape", &["gn_n", &g2], &["gn_b"], &[]);
    let gamma = b.init_f32("gn.weight", &[4, 1, 1], &[1.0, 0.9, 1.1, 1.2]);
    b.node("Mul", &["gn_b", &gamma], &["gn_m"], &[]);
    let beta = b.init_f32("gn.bias", &[4, 1, 1], &[0.0, 0.1, -0.1, 0.2]);
    b.node("Add", &["gn_m", &beta], &["gn"], &[]);
    b.node("Sigmoid", &["gn"], &["sg"], &[]);
    b.node("Mul", &["gn", "sg"], &["silu"], &[]);
    let sqrt2 = b.init_f32("sqrt2", &[], &[std::f32::consts::SQRT_2]);
    let one = b.init_f32("one", &[], &[1.0]);
    let half = b.init_f32("half", &[], &[0.5]);
    b.node("Div", &["silu", &sqrt2], &["gd"], &[]);
    b.node("Erf", &["gd"], &["ge"], &[]);
    b.node("Add", &["ge", &one], &["ga"], &[]);
    b.node("Mul", &["silu", "ga"], &["gm"], &[]);
    b.node("Mul", &["gm", &half], &["gelu"], &[]);
    let cw2 = b.init_f32("down.weight", &[4, 4, 3, 3], &w(144, 0.2));
    b.node(
        "Conv",
        &["gelu", &cw2],
        &["down"],
        &[
            ("pads", Attr::Ints(vec![1; 4])),
            ("strides", Attr::Ints(vec![2, 2])),
        ],
    );
    let scales = b.init_f32("scales", &[4], &[1.0, 1.0, 2.0, 2.0]);
    b.node(
        "Resize",
        &["down", "", &scales],
        &["up"],
        &[("mode", Attr::Str("nearest"))],
    );
    b.node(
        "Concat",
        &["up", "gelu"],
        &["cat"],
        &[("axis", Attr::Int(1))],
    );
    let ow = b.init_f32("out.weight", &[2, 8, 1, 1], &w(16, 0.3));
    b.node("Conv", &["cat", &ow], &["out_nb"], &[]);
    let ob = b.init_f32("out.bias", &[1, 2, 1, 1], &[0.01, -0.02]);
    b.node("Add", &["out_nb", &ob], &["noise_pred"], &[]);
    b.output("noise_pred", DataType::Float, &[1, 2, 4, 4]);
    b.finish()
}

#[test]
fn a_pytorch_style_graph_imports_quantizes_and_compiles() {
    let p = plan();
    let g = import(&pytorch_style(), "torch.onnx", &opts(&p)).unwrap();
    let kinds: Vec<&str> = g
        .ops
        .iter()
        .map(|o| match o {
            FOp::Conv { .. } => "conv",
            FOp::Add { .. } => "add",
            FOp::Mul { .. } => "mul",
            FOp::Concat { .. } => "concat",
            FOp::Upsample { .. } => "upsample",
            FOp::Act { act, .. } => match act {
                edgediff::ir::Activation::Silu => "silu",
                edgediff::ir::Activation::Gelu => "gelu",
                _ => "act",
            },
            FOp::GroupNorm { .. } => "groupnorm",
            FOp::Move { .. } => "move",
            FOp::MatMul { .. } => "matmul",
            FOp::Softmax { .. } => "softmax",
            FOp::LayerNorm { .. } => "layernorm",
            FOp::Embed { by, .. } => match by {
                EmbedIndex::Step => "step",
                EmbedIndex::Class => "class",
                EmbedIndex::StepClass => "step-class",
                EmbedIndex::Const => "const",
            },
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "step",
            "conv",
            "add",
            "groupnorm",
            "act",
            "conv",
            "upsample",
            "concat",
            "conv"
        ]
    );
    // SiLU then GELU (erf pattern) is one element-wise function of the GroupNorm output:
    // one lookup table.
    let act = g
        .ops
        .iter()
        .find_map(|o| match o {
            FOp::Act { act, .. } => Some(act),
            _ => None,
        })
        .unwrap();
    for k in -80..=80 {
        let x = f64::from(k) / 10.0;
        let silu = x / (1.0 + (-x).exp());
        let want = edgediff::ir::elementwise::gelu(silu);
        assert!((act.apply(x) - want).abs() < 1e-6, "{act:?} at {x}");
    }
    let ranges = calibrate(
        &g,
        &p,
        &CalibConfig {
            per_step: true,
            ..CalibConfig::new(8)
        },
    )
    .unwrap();
    let q = to_qgraph(&g, &ranges, 1.0);
    assert!(q.ops.iter().any(|o| matches!(o, QOp::GroupNorm { .. })));
    assert_eq!(q.qparams.len(), p.rows.len(), "per-step scales");
    // A conv with a bias reads one scale at every step, also through the copies before it
    // (upsampling keeps its input's scale).
    for op in &q.ops {
        if let QOp::Conv { input, bias, .. } = op
            && bias.iter().any(|b| *b != 0)
        {
            let t = q.tensors[*input].qparam;
            assert!(q.qparams.iter().all(|r| r[t] == q.qparams[0][t]), "{op:?}");
        }
    }
    assert!(q.ops.iter().any(|o| matches!(o, QOp::Upsample { .. })));
    let compiled = write_pack(&q, &p, None).unwrap();
    Pack::parse(&compiled.bytes).unwrap();
    // The int8 ONNX of it loads in tract.
    let q_onnx = qonnx::write(&q, &opts(&p).timesteps);
    check_quantized_onnx(&q_onnx);
    edgediff::engines::TractDenoiser::new(
        &q_onnx,
        "q",
        edgediff::engines::TractInput::Step,
        0,
        1.0,
    )
    .unwrap();
}

fn import_err(m: &ModelProto) -> String {
    import(m, "bad.onnx", &opts(&plan()))
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_models_give_errors_that_name_the_problem() {
    // Unsupported op.
    let mut m = pytorch_style();
    m.graph
        .as_mut()
        .unwrap()
        .node
        .iter_mut()
        .find(|n| n.op_type == "Sigmoid")
        .unwrap()
        .op_type = "Hardmax".into();
    let e = import_err(&m);
    assert!(
        e.contains("bad.onnx") && e.contains("Hardmax") && e.contains("supported:"),
        "{e}"
    );
    // Shape mismatch: a weight with the wrong input channel count.
    let mut m = pytorch_style();
    let w = m
        .graph
        .as_mut()
        .unwrap()
        .initializer
        .iter_mut()
        .find(|t| t.name == "down.weight")
        .unwrap();
    w.dims = vec![4, 3, 3, 4];
    let e = import_err(&m);
    assert!(e.contains("bad.onnx") && e.contains("down"), "{e}");
    // Missing input.
    let mut m = pytorch_style();
    m.graph
        .as_mut()
        .unwrap()
        .input
        .retain(|i| i.name != "timestep");
    let e = import_err(&m);
    assert!(e.contains("missing input") || e.contains("timestep"), "{e}");
    // Malformed bytes.
    let dir = std::env::temp_dir().join(format!("edgediff-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("truncated.onnx");
    let bytes = pytorch_style().encode_to_vec();
    std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
    let e = edgediff::onnx::read_model(&f).unwrap_err().to_string();
    assert!(e.contains("truncated.onnx"), "{e}");
    std::fs::write(&f, b"").unwrap();
    let e = edgediff::onnx::read_model(&f).unwrap_err().to_string();
    assert!(e.contains("empty"), "{e}");
    let e = edgediff::onnx::read_model(&dir).unwrap_err().to_string();
    assert!(e.contains("directory"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
