//! Real PyTorch exports (tests/fixtures/torch/, made by scripts/make-torch-fixtures.py with
//! torch 2.15 through both exporters) go through the whole path with no editing:
//! - the import reads the graph right: the imported float graph and tract on the float ONNX
//!   give onnxruntime's output (recorded by the script) to float tolerance;
//! - `quantize` -> `compile` -> `sample --engine runtime | tract | tract-float` from the CLI;
//! - the runtime and tract agree bit for bit on every layer of the int8 model;
//! - int8 quality within 20% of float (sliced W1 for the 2-D MLPs, the flow-matching one
//!   sampled with flow Euler, and for the 1-D signal
//!   model, against fresh data; Fréchet distance and label accuracy with the digits classifier
//!   for the U-Nets and the DiT).

use clap::Parser;
use edgediff::cli::Cli;
use edgediff::data::Toy2d;
use edgediff::data::digits::Digits;
use edgediff::engines::{TractDenoiser, TractInput};
use edgediff::eval::classifier::{Classifier, quality_digits};
use edgediff::eval::quality_2d;
use edgediff::ir::{FOp, Movement};
use edgediff::model::evaluate;
use edgediff::onnx::import::{ImportOptions, import};
use edgediff::onnx::{qonnx, read_model};
use edgediff::pipeline::sampler_args;
use edgediff::pipeline::{Dyn, EngineName, load};
use edgediff::sampling::Job;
use edgediff_runtime::engine::Engine;
use edgediff_runtime::noise::{GaussianNoise, NoiseSource};
use edgediff_runtime::pack::Pack;
use edgediff_runtime::pack::layout::EmbedIndex;
use edgediff_tests::layers::{Recording, compare_layers, op_name};
use std::path::{Path, PathBuf};

/// A fixture: its file stem, the reference cases, the prediction type the user trained.
struct Fixture {
    file: &'static str,
    reference: &'static str,
    prediction: &'static str,
    conditional: bool,
}

const FIXTURES: &[Fixture] = &[
    Fixture {
        file: "mlp-torchscript-opset13",
        reference: "mlp",
        prediction: "v",
        conditional: false,
    },
    Fixture {
        file: "mlp-dynamo-opset18",
        reference: "mlp",
        prediction: "v",
        conditional: false,
    },
    Fixture {
        file: "mlp-flow-torchscript-opset17",
        reference: "mlp-flow",
        prediction: "flow",
        conditional: false,
    },
    Fixture {
        file: "mlp-flow-dynamo-opset20",
        reference: "mlp-flow",
        prediction: "flow",
        conditional: false,
    },
    Fixture {
        file: "mlp-relu-torchscript-opset14",
        reference: "mlp-relu",
        prediction: "v",
        conditional: false,
    },
    Fixture {
        file: "mlp-relu-dynamo-opset19",
        reference: "mlp-relu",
        prediction: "v",
        conditional: false,
    },
    Fixture {
        file: "mlp-film-torchscript-opset16",
        reference: "mlp-film",
        prediction: "v",
        conditional: false,
    },
    Fixture {
        file: "mlp-film-dynamo-opset18",
        reference: "mlp-film",
        prediction: "v",
        conditional: false,
    },
    Fixture {
        file: "mlp-norm-torchscript-opset16",
        reference: "mlp-norm",
        prediction: "v",
        conditional: false,
    },
    Fixture {
        file: "mlp-norm-dynamo-opset18",
        reference: "mlp-norm",
        prediction: "v",
        conditional: false,
    },
    Fixture {
        file: "unet-torchscript-opset17",
        reference: "unet",
        prediction: "epsilon",
        conditional: false,
    },
    Fixture {
        file: "unet-dynamo-opset20",
        reference: "unet",
        prediction: "epsilon",
        conditional: false,
    },
    Fixture {
        file: "unet-cond-torchscript-opset15",
        reference: "unet-cond",
        prediction: "v",
        conditional: true,
    },
    Fixture {
        file: "unet-cond-dynamo-opset21",
        reference: "unet-cond",
        prediction: "v",
        conditional: true,
    },
    Fixture {
        file: "unet-attn-torchscript-opset17",
        reference: "unet-attn",
        prediction: "v",
        conditional: true,
    },
    Fixture {
        file: "unet-attn-dynamo-opset20",
        reference: "unet-attn",
        prediction: "v",
        conditional: true,
    },
    Fixture {
        file: "dit-torchscript-opset17",
        reference: "dit",
        prediction: "v",
        conditional: true,
    },
    Fixture {
        file: "dit-dynamo-opset20",
        reference: "dit",
        prediction: "v",
        conditional: true,
    },
    Fixture {
        file: "dit-qkv-torchscript-opset14",
        reference: "dit-qkv",
        prediction: "v",
        conditional: true,
    },
    Fixture {
        file: "dit-qkv-dynamo-opset19",
        reference: "dit-qkv",
        prediction: "v",
        conditional: true,
    },
    Fixture {
        file: "unet1d-torchscript-opset17",
        reference: "unet1d",
        prediction: "epsilon",
        conditional: false,
    },
    Fixture {
        file: "unet1d-dynamo-opset20",
        reference: "unet1d",
        prediction: "epsilon",
        conditional: false,
    },
];

const SAMPLER: &str = "--sampler dpmpp --steps 20 --spacing linspace";
/// The flow-matching fixture's sampler (Euler needs more steps than DPM-Solver++).
const FLOW_SAMPLER: &str = "--sampler flow-euler --steps 50";

impl Fixture {
    /// The sampler options the fixture is quantized, compiled and sampled with.
    fn sampler(&self) -> &'static str {
        if self.prediction == "flow" {
            FLOW_SAMPLER
        } else {
            SAMPLER
        }
    }
}
const GUIDANCE: &str = "2";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(f: &Fixture) -> PathBuf {
    root().join(format!("tests/fixtures/torch/{}.onnx", f.file))
}

fn by_name(file: &str) -> &'static Fixture {
    FIXTURES.iter().find(|f| f.file == file).unwrap()
}

fn is_mlp(f: &Fixture) -> bool {
    f.reference.starts_with("mlp")
}

fn is_signal(f: &Fixture) -> bool {
    f.reference == "unet1d"
}

/// Runs an `edgediff` command line.
fn cli(args: &[&str]) {
    let cli = Cli::try_parse_from(std::iter::once("edgediff").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    edgediff::cli::run(cli).unwrap_or_else(|e| panic!("{args:?}: {e}"));
}

/// One reference case: inputs and onnxruntime's output for `file`.
struct Case {
    x: Vec<f32>,
    t: u32,
    label: Option<u16>,
    onnxruntime: Vec<f32>,
}

fn cases(f: &Fixture) -> Vec<Case> {
    let path = root().join(format!(
        "tests/fixtures/torch/{}.reference.json",
        f.reference
    ));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let names: Vec<&str> = json["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            x: floats(&c[names[0]]),
            t: c[names[1]][0].as_u64().unwrap() as u32,
            label: names.get(2).map(|l| c[*l][0].as_u64().unwrap() as u16),
            onnxruntime: floats(&c["onnxruntime"][format!("{}.onnx", f.file)]),
        })
        .collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The import reads every fixture right: its float graph and tract-float on the normalized
/// file reproduce onnxruntime's outputs.
#[test]
fn imported_graphs_and_tract_float_match_onnxruntime() {
    for f in FIXTURES {
        let path = fixture(f);
        let file = path.display().to_string();
        let proto = read_model(&path).unwrap();
        let cases = cases(f);
        let opts = ImportOptions {
            timesteps: cases.iter().map(|c| c.t).collect(),
            prediction: None,
        };
        let g = import(&proto, &file, &opts).unwrap();
        if f.reference == "mlp-relu" {
            // The two ReLUs after linear layers fuse into them; the one after the time
            // embedding's Add stays a lookup table.
            let count = |p: fn(&FOp) -> bool| g.ops.iter().filter(|o| p(o)).count();
            assert_eq!(count(|o| matches!(o, FOp::Conv { relu: true, .. })), 2);
            assert_eq!(count(|o| matches!(o, FOp::Act { .. })), 1, "{}", f.file);
        }
        if f.reference == "mlp-film" {
            // h * (1 + scale(t)) + shift(t): the products of activations with the step tables.
            let muls = g
                .ops
                .iter()
                .filter(|o| matches!(o, FOp::Mul { .. }))
                .count();
            assert_eq!(muls, 2, "{}", f.file);
        }
        if f.reference == "mlp-norm" {
            // nn.LayerNorm (the op, or written out below opset 17) and a hand-written RMSNorm.
            let norms: Vec<bool> = g
                .ops
                .iter()
                .filter_map(|o| match o {
                    FOp::LayerNorm { center, .. } => Some(*center),
                    _ => None,
                })
                .collect();
            assert_eq!(norms, [true, false], "{}", f.file);
        }
        if f.reference.starts_with("dit") {
            // Two blocks: attention products and softmax, two LayerNorms each and the final
            // one, adaLN modulation (row-vector Mul/Add), the position embedding a constant.
            let count = |p: fn(&FOp) -> bool| g.ops.iter().filter(|o| p(o)).count();
            assert_eq!(count(|o| matches!(o, FOp::MatMul { .. })), 4, "{}", f.file);
            assert_eq!(
                count(|o| matches!(o, FOp::LayerNorm { .. })),
                5,
                "{}",
                f.file
            );
            assert_eq!(
                count(|o| matches!(
                    o,
                    FOp::Embed {
                        by: EmbedIndex::Const,
                        ..
                    }
                )),
                1,
                "{}",
                f.file
            );
        }
        if f.reference == "unet1d" {
            // Conv1d everywhere, one depthwise and one grouped dilated conv, the average pool
            // as a depthwise conv, the max pool, a width-only upsampling.
            let convs: Vec<_> = g
                .ops
                .iter()
                .filter_map(|o| match o {
                    FOp::Conv { spec, .. } => Some(*spec),
                    _ => None,
                })
                .collect();
            assert!(convs.iter().all(|s| s.kernel[0] == 1 && s.pad[0] == 0));
            assert_eq!(
                convs.iter().filter(|s| s.groups > 1).count(),
                3,
                "{}",
                f.file
            );
            assert_eq!(convs.iter().filter(|s| s.dilation == 2).count(), 1);
            assert!(g.ops.iter().any(|o| matches!(
                o,
                FOp::Move {
                    how: Movement::MaxPool(_),
                    ..
                }
            )));
            assert!(
                g.ops
                    .iter()
                    .any(|o| matches!(o, FOp::Upsample { factor: [1, 2], .. }))
            );
        }
        if f.reference == "unet-attn" {
            // Two attention blocks of two heads: Q Kᵀ and A V per block, one softmax each.
            let count = |p: fn(&FOp) -> bool| g.ops.iter().filter(|o| p(o)).count();
            assert_eq!(count(|o| matches!(o, FOp::MatMul { .. })), 4, "{}", f.file);
            assert_eq!(count(|o| matches!(o, FOp::Softmax { .. })), 2, "{}", f.file);
        }
        let tract =
            TractDenoiser::new(&proto, &file, TractInput::Timestep, g.num_classes, 1.0).unwrap();
        let (mut ours, mut theirs) = (0.0f32, 0.0f32);
        for (k, c) in cases.iter().enumerate() {
            let label = c.label.unwrap_or(g.num_classes);
            let v = evaluate(&g, &c.x, k, usize::from(label));
            ours = ours.max(max_diff(&v[g.output], &c.onnxruntime));
            let t = tract.run_one(&c.x, c.t, k, label).unwrap();
            theirs = theirs.max(max_diff(&t, &c.onnxruntime));
        }
        println!(
            "{}: max |imported - onnxruntime| {ours:.2e}, |tract-float - onnxruntime| {theirs:.2e}",
            f.file
        );
        assert!(ours < 1e-4 && theirs < 1e-4, "{}", f.file);
    }
}

/// Every fixture goes quantize -> compile -> sample with all three engines from the command
/// line; the runtime and tract then agree bit for bit on every layer, on the states of real
/// trajectories and on wide random inputs at every step (every label for conditional
/// models).
#[test]
fn cli_pipeline_runs_and_runtime_matches_tract_on_every_layer() {
    let dir = std::env::temp_dir().join(format!("edgediff-torch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in FIXTURES {
        let src = fixture(f);
        let int8 = dir.join(format!("{}.int8.onnx", f.file));
        let pack = dir.join(format!("{}.pack", f.file));
        let (src_s, int8_s, pack_s) = (
            src.to_str().unwrap(),
            int8.to_str().unwrap(),
            pack.to_str().unwrap(),
        );
        let mut sampler: Vec<&str> = f.sampler().split_whitespace().collect();
        sampler.extend(["--prediction", f.prediction]);
        let guidance: &[&str] = if f.conditional {
            &["--guidance", GUIDANCE]
        } else {
            &[]
        };
        let mut q = vec![
            "quantize", "--model", src_s, "--out", int8_s, "--calib", "64",
        ];
        q.extend(&sampler);
        q.extend(guidance);
        q.push("--force");
        cli(&q);
        let mut c = vec!["compile", "--model", int8_s, "--out", pack_s];
        c.extend(&sampler);
        c.push("--force");
        cli(&c);
        for (engine, model) in [
            ("runtime", pack_s),
            ("tract", int8_s),
            ("tract-float", src_s),
        ] {
            let out = dir.join(format!("{}.{engine}.csv", f.file));
            let mut s = vec![
                "sample",
                "--model",
                model,
                "--engine",
                engine,
                "-n",
                "4",
                "--out",
                out.to_str().unwrap(),
                "--force",
            ];
            s.extend(&sampler);
            s.extend(guidance);
            cli(&s);
            let text = std::fs::read_to_string(&out).unwrap();
            assert_eq!(
                text.lines().filter(|l| !l.is_empty()).count(),
                4,
                "{engine}"
            );
        }
        // Layer by layer.
        let model = qonnx::read(&read_model(&int8).unwrap(), f.file).unwrap();
        let bytes = std::fs::read(&pack).unwrap();
        let g = &model.graph;
        let dim = g.tensors[g.input].len();
        let steps = model.timesteps.len();
        let labels: Vec<u16> = if f.conditional {
            (0..=g.num_classes).collect()
        } else {
            vec![0]
        };
        let parsed = Pack::parse(&bytes).unwrap();
        let mut arena = vec![0i8; parsed.arena_bytes()];
        let mut rec = Recording {
            engine: Engine::new(parsed, &mut arena).unwrap(),
            seen: vec![],
        };
        let job_labels: Vec<u16> = if f.conditional {
            (0..16).map(|i| i % g.num_classes).collect()
        } else {
            vec![]
        };
        let plan = sampler_args(f.sampler()).resolve().unwrap().plan().unwrap();
        let job = Job {
            plan: &plan,
            prediction: model.graph.prediction,
            clip_sample: None,
            dim,
            n: 16,
            labels: &job_labels,
            seed: 5,
        };
        job.run(&mut rec).unwrap();
        let mut inputs = rec.seen;
        let mut noise = GaussianNoise::new(11);
        for step in 0..steps {
            for label in &labels {
                let x: Vec<f32> = (0..dim)
                    .map(|_| 3.0 * noise.next_normal().unwrap())
                    .collect();
                inputs.push((step, *label, x));
            }
        }
        let agreement = compare_layers(&model, &bytes, &inputs);
        let (total, differ): (usize, usize) = agreement
            .iter()
            .fold((0, 0), |(t, d), a| (t + a.total, d + a.differ));
        println!(
            "{}: {} ops, {total} int8 values compared over {} inputs, {differ} differ",
            f.file,
            g.ops.len(),
            inputs.len()
        );
        if differ > 0 {
            for (k, (op, a)) in g.ops.iter().zip(&agreement).enumerate() {
                println!("  op {k} {}: {a:?}", op_name(op));
            }
        }
        for (op, a) in g.ops.iter().zip(&agreement) {
            assert_eq!(a.differ, 0, "{}: {} differs: {a:?}", f.file, op_name(op));
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `n` samples of a fixture through `engine`, from the files the pipeline writes.
fn samples(
    model: &Path,
    engine: EngineName,
    f: &Fixture,
    n: usize,
    labels: &[u16],
    seed: u64,
) -> Vec<f32> {
    let mut args = sampler_args(f.sampler());
    args.prediction = edgediff::onnx::metadata::parse_prediction(f.prediction);
    let guidance = if f.conditional { 2.0 } else { 1.0 };
    let mut l = load(model, engine, &args, guidance).unwrap();
    let job = Job {
        plan: &l.plan,
        prediction: l.prediction,
        clip_sample: l.clip,
        dim: l.dim,
        n,
        labels,
        seed,
    };
    job.run(&mut Dyn(l.denoiser.as_mut())).unwrap()
}

/// int8 (runtime) is within 20% of float (tract on the float ONNX) for every fixture model,
/// mean of two seeds.
#[test]
fn int8_quality_is_within_20_percent_of_float() {
    let dir = std::env::temp_dir().join(format!("edgediff-torch-q-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let c = Classifier::load(&root().join("models/digits-classifier/classifier.bin")).unwrap();
    let real = Digits::load(&root().join("models/data/digits.csv.gz")).unwrap();
    // One fixture per model: both exporters give the same graph (checked above).
    for f in FIXTURES.iter().filter(|f| f.file.contains("dynamo")) {
        let src = fixture(f);
        let pack = dir.join(format!("{}.pack", f.file));
        let mut q: Vec<String> = ["quantize", "--model", src.to_str().unwrap(), "--out"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let int8 = dir.join(format!("{}.int8.onnx", f.file));
        q.push(int8.display().to_string());
        let mut sampler: Vec<String> = f.sampler().split_whitespace().map(String::from).collect();
        sampler.extend(["--prediction".into(), f.prediction.into()]);
        q.extend(sampler.iter().cloned());
        if f.conditional {
            q.extend(["--guidance".into(), GUIDANCE.into()]);
        }
        q.push("--force".into());
        cli(&q.iter().map(String::as_str).collect::<Vec<_>>());
        let mut c_args: Vec<String> = vec![
            "compile".into(),
            "--model".into(),
            int8.display().to_string(),
            "--out".into(),
            pack.display().to_string(),
        ];
        c_args.extend(sampler.iter().cloned());
        c_args.push("--force".into());
        cli(&c_args.iter().map(String::as_str).collect::<Vec<_>>());
        let mut int8_sum = 0.0;
        let mut float_sum = 0.0;
        for seed in 0..2 {
            if is_signal(f) {
                let n = 1000;
                let real = edgediff::data::ecg::signals(n, 100 + seed);
                let dim = edgediff::data::ecg::LEN;
                let w1 = |s: &[f32]| edgediff::eval::swd::sliced_w1(s, &real, dim, 64, seed);
                let (qi, qf) = (
                    w1(&samples(&pack, EngineName::Runtime, f, n, &[], seed)).unwrap(),
                    w1(&samples(&src, EngineName::TractFloat, f, n, &[], seed)).unwrap(),
                );
                let floor = w1(&edgediff::data::ecg::signals(n, 200 + seed)).unwrap();
                println!(
                    "{} seed {seed}: sliced W1 to fresh signals int8 {qi:.4} float {qf:.4} \
                     (floor {floor:.4})",
                    f.file
                );
                int8_sum += qi;
                float_sum += qf;
            } else if is_mlp(f) {
                let n = 5000;
                let qi = quality_2d(
                    &samples(&pack, EngineName::Runtime, f, n, &[], seed),
                    Toy2d::TwoMoons,
                    seed,
                );
                let qf = quality_2d(
                    &samples(&src, EngineName::TractFloat, f, n, &[], seed),
                    Toy2d::TwoMoons,
                    seed,
                );
                println!(
                    "{} seed {seed}: sliced W1 int8 {:.4} float {:.4} (floor {:.4})",
                    f.file, qi.sw1, qf.sw1, qi.sw1_floor
                );
                int8_sum += qi.sw1;
                float_sum += qf.sw1;
            } else {
                let n = 300;
                let labels: Vec<u16> = if f.conditional {
                    (0..n).map(|i| (i % 10) as u16).collect()
                } else {
                    vec![]
                };
                let qi = quality_digits(
                    &c,
                    &samples(&pack, EngineName::Runtime, f, n, &labels, seed),
                    &labels,
                    &real,
                );
                let qf = quality_digits(
                    &c,
                    &samples(&src, EngineName::TractFloat, f, n, &labels, seed),
                    &labels,
                    &real,
                );
                println!(
                    "{} seed {seed}: FD int8 {:.2} float {:.2} (floor {:.2}); label accuracy int8 {:?} float {:?}",
                    f.file, qi.fd, qf.fd, qi.fd_floor, qi.label_accuracy, qf.label_accuracy
                );
                if let (Some(ai), Some(af)) = (qi.label_accuracy, qf.label_accuracy) {
                    assert!(
                        ai >= 0.8 * af,
                        "{}: label accuracy int8 {ai} float {af}",
                        f.file
                    );
                }
                int8_sum += qi.fd;
                float_sum += qf.fd;
            }
        }
        assert!(
            int8_sum <= 1.2 * float_sum,
            "{}: int8 {:.4} vs float {:.4} (means of two seeds)",
            f.file,
            int8_sum / 2.0,
            float_sum / 2.0
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A copy of fixture `f` (with its side file) in a fresh folder.
fn copy_fixture(f: &str, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let src = root().join("tests/fixtures/torch");
    for ext in [".onnx", ".onnx.data"] {
        let from = src.join(format!("{f}{ext}"));
        if from.exists() {
            std::fs::copy(&from, dir.join(format!("{f}{ext}"))).unwrap();
        }
    }
    dir.join(format!("{f}.onnx"))
}

fn err_of(args: &[&str]) -> String {
    let cli = Cli::try_parse_from(std::iter::once("edgediff").chain(args.iter().copied())).unwrap();
    edgediff::cli::run(cli).unwrap_err().to_string()
}

/// Bad inputs a user meets get errors that name the file and the problem.
#[test]
fn user_errors_name_the_problem() {
    let dir = std::env::temp_dir().join(format!("edgediff-torch-bad-{}", std::process::id()));
    // The side file of a dynamo export is missing.
    let model = copy_fixture("mlp-dynamo-opset18", &dir);
    std::fs::remove_file(dir.join("mlp-dynamo-opset18.onnx.data")).unwrap();
    let e = err_of(&["inspect", model.to_str().unwrap()]);
    assert!(
        e.contains("mlp-dynamo-opset18.onnx") && e.contains("mlp-dynamo-opset18.onnx.data"),
        "{e}"
    );
    // A symbolic dimension other than the batch.
    let mut proto = read_model(&fixture(by_name("unet-torchscript-opset17"))).unwrap();
    let input = &mut proto.graph.as_mut().unwrap().input[0];
    if let Some(tract_onnx::pb::type_proto::Value::TensorType(t)) =
        input.r#type.as_mut().and_then(|t| t.value.as_mut())
    {
        t.shape.as_mut().unwrap().dim[2].value =
            Some(tract_onnx::pb::tensor_shape_proto::dimension::Value::DimParam("height".into()));
    }
    let opts = ImportOptions {
        timesteps: vec![999],
        prediction: None,
    };
    let e = import(&proto, "sym.onnx", &opts).unwrap_err().to_string();
    assert!(
        e.contains("sym.onnx") && e.contains("`height`") && e.contains("axis 2"),
        "{e}"
    );
    // Two prediction records that disagree, without --prediction; with it, the flag wins.
    let mut proto = read_model(&fixture(by_name("mlp-torchscript-opset13"))).unwrap();
    for (k, v) in [
        ("edgediff.prediction", "epsilon"),
        ("prediction_type", "v_prediction"),
    ] {
        proto
            .metadata_props
            .push(edgediff::onnx::metadata::entry(k, v.into()));
    }
    let e = import(&proto, "two.onnx", &opts).unwrap_err().to_string();
    assert!(e.contains("two.onnx") && e.contains("--prediction"), "{e}");
    let flagged = ImportOptions {
        prediction: Some(edgediff_runtime::prediction::PredictionType::VPrediction),
        ..opts.clone()
    };
    let g = import(&proto, "two.onnx", &flagged).unwrap();
    assert_eq!(
        g.prediction,
        edgediff_runtime::prediction::PredictionType::VPrediction
    );
    // An int8 ONNX whose QLinearConv has strides [0, 0].
    let pack = dir.join("p.pack");
    let int8 = dir.join("i.onnx");
    let mut q: Vec<&str> = vec![];
    let src = fixture(by_name("mlp-torchscript-opset13"));
    q.extend([
        "quantize",
        "--model",
        src.to_str().unwrap(),
        "--out",
        int8.to_str().unwrap(),
    ]);
    q.extend(["--calib", "8", "--prediction", "v", "--force"]);
    q.extend(SAMPLER.split_whitespace());
    cli(&q);
    let mut m = read_model(&int8).unwrap();
    for n in &mut m.graph.as_mut().unwrap().node {
        for a in &mut n.attribute {
            if n.op_type == "QLinearConv" && a.name == "strides" {
                a.ints = vec![0, 0];
            }
        }
    }
    let bad = dir.join("strides.onnx");
    std::fs::write(&bad, prost::Message::encode_to_vec(&m)).unwrap();
    let e = err_of(&["inspect", bad.to_str().unwrap()]);
    assert!(
        e.contains("strides.onnx") && e.contains("QLinearConv") && e.contains("strides [0, 0]"),
        "{e}"
    );
    // --prediction that differs from what the pack was built for.
    let out = dir.join("s.csv");
    let mut c = vec![
        "compile",
        "--model",
        int8.to_str().unwrap(),
        "--out",
        pack.to_str().unwrap(),
        "--force",
    ];
    c.extend(SAMPLER.split_whitespace());
    cli(&c);
    let mut s = vec![
        "sample",
        "--model",
        pack.to_str().unwrap(),
        "--prediction",
        "epsilon",
        "-n",
        "1",
        "--out",
        out.to_str().unwrap(),
    ];
    s.extend(SAMPLER.split_whitespace());
    let e = err_of(&s);
    assert!(
        e.contains("p.pack") && e.contains("v_prediction") && e.contains("epsilon"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The int8 ONNX has no initializer that no node reads (onnxruntime warns about each one):
/// what only edgediff reads back sits in its metadata, and the model reads back the same.
#[test]
fn int8_onnx_has_no_unused_initializers() {
    let dir = std::env::temp_dir().join(format!("edgediff-torch-clean-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in [
        by_name("unet-cond-torchscript-opset15"),
        by_name("unet-torchscript-opset17"),
    ] {
        let int8 = dir.join(format!("{}.onnx", f.file));
        let src = fixture(f);
        let mut q = vec![
            "quantize",
            "--model",
            src.to_str().unwrap(),
            "--out",
            int8.to_str().unwrap(),
        ];
        q.extend(["--calib", "8", "--prediction", f.prediction, "--force"]);
        q.extend(SAMPLER.split_whitespace());
        cli(&q);
        let m = read_model(&int8).unwrap();
        let g = m.graph.as_ref().unwrap();
        let read: std::collections::HashSet<&str> = g
            .node
            .iter()
            .flat_map(|n| n.input.iter().map(String::as_str))
            .collect();
        let unused: Vec<&str> = g
            .initializer
            .iter()
            .map(|t| t.name.as_str())
            .filter(|n| !read.contains(n))
            .collect();
        assert!(unused.is_empty(), "{}: unused {unused:?}", f.file);
        let back = qonnx::read(&m, f.file).unwrap();
        let again = qonnx::read(&qonnx::write(&back.graph, &back.timesteps), f.file).unwrap();
        assert_eq!(back.graph, again.graph, "{}", f.file);
    }
    std::fs::remove_dir_all(&dir).ok();
}
