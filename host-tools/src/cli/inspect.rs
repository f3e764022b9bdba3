//! `edgediff inspect`: what is inside an ONNX model or a model pack.

use super::Error;
use crate::files::read;
use crate::ir::FOp;
use crate::ir::QOp;
use crate::onnx::import::{ImportOptions, import};
use crate::onnx::qonnx;
use edgediff_runtime::pack::Pack;
use edgediff_runtime::pack::layout::MAGIC;
use edgediff_runtime::schedule::StepTable;
use prost::Message;
use std::path::PathBuf;

/// Options of `edgediff inspect`.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// An ONNX file (float or int8) or a model pack.
    pub file: PathBuf,
}

/// Runs the command.
pub fn run(args: &Args) -> Result<(), Error> {
    let bytes = read(&args.file)?;
    inspect_bytes(&bytes, &args.file.display().to_string())
}

/// Prints what `bytes` (a pack or an ONNX model, called `name` in messages) contain.
pub fn inspect_bytes(bytes: &[u8], name: &str) -> Result<(), Error> {
    let name = name.to_string();
    if bytes.starts_with(&MAGIC) {
        return inspect_pack(bytes, &name);
    }
    if bytes.is_empty() {
        return Err(Error::Input(format!("{name}: empty file")));
    }
    let mut model = tract_onnx::pb::ModelProto::decode(bytes).map_err(|e| {
        Error::Input(format!(
            "{name}: neither a model pack nor a valid ONNX protobuf ({e})"
        ))
    })?;
    // External data is resolved beside the file `name`.
    crate::onnx::external::inline(&mut model, std::path::Path::new(&name))?;
    if crate::onnx::metadata::get(&model, crate::onnx::metadata::TIMESTEPS).is_some() {
        let q = qonnx::read(&model, &name)?;
        let g = &q.graph;
        println!(
            "{name}: int8 ONNX, {:?} prediction, {} classes, timesteps {:?}",
            g.prediction, g.num_classes, q.timesteps
        );
        println!(
            "{:<4} {:<10} {:>16} {:>16} {:>8} {:>9}",
            "op", "kind", "in", "out", "params", "MACs"
        );
        for (i, op) in g.ops.iter().enumerate() {
            let inp = op
                .inputs()
                .first()
                .map(|t| format!("{:?}", g.tensors[*t].shape))
                .unwrap_or_default();
            let out = format!("{:?}", g.tensors[op.output()].shape);
            let (params, macs) = match op {
                QOp::Conv { weights, bias, .. } => (
                    weights.len() + bias.len(),
                    g.conv_geometry(op).map_or(0, |c| c.macs()),
                ),
                _ => (0, 0),
            };
            println!(
                "{i:<4} {:<10} {inp:>16} {out:>16} {params:>8} {macs:>9}",
                op.name()
            );
        }
        println!("quantization (row 0 of {}):", g.qparams.len());
        for t in &g.tensors {
            let p = g.qparams[0][t.qparam];
            println!(
                "  {:<6} {:>14?} scale {:.6} zero point {}",
                t.name, t.shape, p.scale, p.zero_point
            );
        }
        println!(
            "total: {} params, {} MACs per evaluation",
            g.params(),
            g.macs()
        );
        return Ok(());
    }
    let opts = ImportOptions {
        timesteps: vec![0],
        prediction: None,
    };
    let g = import(&model, &name, &opts)?;
    println!(
        "{name}: float ONNX, {:?} prediction, sample {:?}, {} classes",
        g.prediction, g.sample_shape, g.num_classes
    );
    let (mut params, mut macs) = (0, 0);
    for op in &g.ops {
        let out = &g.tensors[op.output()];
        let (p, m, kind) = match op {
            FOp::Conv {
                weights,
                bias,
                input,
                name,
                ..
            } => {
                let m = weights.len() * out.shape[1] * out.shape[2];
                let _ = input;
                (weights.len() + bias.len(), m, format!("Conv `{name}`"))
            }
            FOp::Act { act, .. } => (0, 0, format!("{act:?}")),
            FOp::GroupNorm { gamma, .. } => (2 * gamma.len(), 0, "GroupNorm".into()),
            FOp::Embed { by, table, .. } => (
                0,
                0,
                format!(
                    "{} table, {} rows, {} B int8",
                    by.op_kind().name(),
                    table.len() / out.len().max(1),
                    table.len()
                ),
            ),
            FOp::Add { .. } => (0, 0, "Add".into()),
            FOp::Mul { .. } => (0, 0, "Mul".into()),
            FOp::Concat { .. } => (0, 0, "Concat".into()),
            FOp::Upsample { .. } => (0, 0, "Upsample".into()),
            FOp::Move { how, .. } => (0, 0, format!("{:?}", how.kind())),
            FOp::MatMul { geometry: g, .. } => (0, g.batch * g.m * g.k * g.n, "MatMul".into()),
            FOp::Softmax { n, .. } => (0, 0, format!("Softmax over {n}")),
            FOp::LayerNorm { n, center, .. } => (
                2 * n,
                0,
                format!("{} over {n}", if *center { "LayerNorm" } else { "RMSNorm" }),
            ),
        };
        params += p;
        macs += m;
        println!(
            "  {kind:<32} -> {:<24} {:>14?} params {p:>7} MACs {m:>8}",
            out.name, out.shape
        );
    }
    println!(
        "total: {params} params on the sample path, {macs} MACs per evaluation (the timestep and label paths become tables)"
    );
    Ok(())
}

fn inspect_pack(bytes: &[u8], name: &str) -> Result<(), Error> {
    let pack = Pack::parse(bytes).map_err(|e| Error::Input(format!("{name}: {e}")))?;
    let m = pack.meta();
    println!("{name}: model pack v1, {} bytes", bytes.len());
    println!(
        "sample {:?}, {:?} prediction, {} classes (guidance {}), clip {:?}, {} steps, corrector {} per step",
        m.sample_shape,
        m.prediction,
        m.num_classes,
        m.guidance,
        m.clip_sample,
        m.steps,
        m.corrector_steps
    );
    println!(
        "memory: arena {} bytes, sampler state {} bytes per sample; {} MACs per evaluation",
        pack.arena_bytes(),
        pack.state_bytes(),
        m.macs
    );
    println!(
        "{:<4} {:<10} {:>6} {:>6} {:>6}",
        "op", "kind", "in0", "in1", "out"
    );
    for i in 0..m.op_count {
        if let Some(o) = pack.op(i) {
            let kind = o.kind.name();
            let t = |id: u16| {
                pack.tensor(id)
                    .map(|t| format!("{:?}", t.shape))
                    .unwrap_or_else(|| "-".into())
            };
            println!(
                "{i:<4} {kind:<10} {:>14} {:>14} {:>14}",
                t(o.in0),
                t(o.in1),
                t(o.out)
            );
        }
    }
    println!("quantization (row 0):");
    for i in 0..m.tensor_count {
        if let (Some(t), Some(q)) = (
            pack.tensor(i),
            pack.tensor(i).and_then(|t| pack.qparams(0, t.qparam)),
        ) {
            println!(
                "  t{i:<4} {:>14?} arena [{}, {}) scale {:.6} zero point {}",
                t.shape,
                t.offset,
                t.offset + t.len(),
                q.scale,
                q.zero_point
            );
        }
    }
    println!("schedule:");
    let s = pack.schedule();
    for i in 0..s.steps() {
        if let Some(r) = s.row(i) {
            let older = if r.history_slots() > 1 {
                format!(" c_hist2 {:.5} c_hist3 {:.5}", r.c_hist2, r.c_hist3)
            } else {
                String::new()
            };
            println!(
                "  step {i:>3} t {:>4} -> {:>4}  alpha {:.5} sigma {:.5} c_xt {:.5} c_x0 {:.5} c_eps {:.5} c_hist {:.5}{older} noise {:.5}",
                r.t, r.t_prev, r.alpha, r.sigma, r.c_xt, r.c_x0, r.c_eps, r.c_hist, r.noise
            );
        }
    }
    Ok(())
}
