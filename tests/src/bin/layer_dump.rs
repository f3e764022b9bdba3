//! Writes what `scripts/check-onnxruntime.py` needs to check onnxruntime against the runtime,
//! layer by layer, on an int8 model:
//!
//! ```sh
//! cargo run -p edgediff-tests --bin layer-dump -- model.int8.onnx model.pack OUT_DIR [CASES]
//! ```
//!
//! `OUT_DIR/model.onnx` is the int8 ONNX with every op's int8 output `t{i}` also a graph
//! output (one `model.step{k}.onnx` per sampling step for a per-step model), and
//! `OUT_DIR/cases.json` holds `CASES` (default 8) random inputs per step and label, each with
//! the runtime's int8 output of every op.

use edgediff::onnx::{qonnx, read_model};
use edgediff_runtime::engine::Engine;
use edgediff_runtime::kernels::reference::quantize;
use edgediff_runtime::noise::{GaussianNoise, NoiseSource};
use edgediff_runtime::pack::Pack;
use serde_json::json;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [onnx, pack, out, rest @ ..] = &args[..] else {
        return Err("usage: layer-dump MODEL.int8.onnx MODEL.pack OUT_DIR [CASES]".into());
    };
    let cases: usize = rest.first().map_or(Ok(8), |c| c.parse())?;
    let out = PathBuf::from(out);
    std::fs::create_dir_all(&out)?;
    let model = qonnx::read(&read_model(onnx.as_ref())?, onnx)?;
    let g = &model.graph;
    let steps = model.timesteps.len();
    let rows = g.qparams.len();
    for row in 0..rows {
        let mut proto = if rows > 1 {
            qonnx::at_step(&model, row)
        } else {
            qonnx::write(g, &model.timesteps)
        };
        qonnx::expose_tensors(&mut proto, g);
        let name = if rows > 1 {
            format!("model.step{row}.onnx")
        } else {
            "model.onnx".into()
        };
        std::fs::write(out.join(name), prost::Message::encode_to_vec(&proto))?;
    }
    let bytes = std::fs::read(pack)?;
    let parsed = Pack::parse(&bytes)?;
    let mut arena = vec![0i8; parsed.arena_bytes()];
    let mut engine = Engine::new(parsed, &mut arena)?;
    let dim = g.tensors[g.input].len();
    let labels: Vec<u16> = if g.num_classes > 0 {
        (0..=g.num_classes).collect()
    } else {
        vec![0]
    };
    let mut noise = GaussianNoise::new(17);
    let mut all = vec![];
    for step in 0..steps {
        for &label in &labels {
            for k in 0..cases {
                let wide = [0.5, 1.0, 3.0][k % 3];
                let x: Vec<f32> = (0..dim)
                    .map(|_| noise.next_normal().map(|v| wide * v))
                    .collect::<Result<_, _>>()?;
                let (q_in, _) = engine.io_qparams(step)?;
                quantize(&x, q_in, engine.input_mut()?);
                let mut layers = vec![];
                engine.run_observed(step, label, &mut |_, o, v| {
                    layers.push(
                        json!({"tensor": format!("t{}", o.out), "op": o.kind.name(), "values": v}),
                    );
                })?;
                all.push(json!({"step": step, "label": label, "x": x, "layers": layers}));
            }
        }
    }
    let doc = json!({
        "per_step": rows > 1,
        "conditional": g.num_classes > 0,
        "x_shape": edgediff::onnx::qonnx::interface_dims(g.tensors[g.input].shape),
        "cases": all,
    });
    std::fs::write(out.join("cases.json"), serde_json::to_string(&doc)?)?;
    println!(
        "{}: {} ops, {} cases -> {}",
        onnx,
        g.ops.len(),
        doc["cases"].as_array().map_or(0, Vec::len),
        out.display()
    );
    Ok(())
}
