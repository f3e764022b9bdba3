//! `edgediff compile`: int8 ONNX + sampler config in, flash-ready model pack out.

use super::Error;
use super::sampler_args::SamplerArgs;
use crate::compile::writer::{CompiledPack, write_pack};
use crate::files::write_atomic;
use crate::ir::QOp;
use crate::onnx::{qonnx, read_model};
use edgediff_runtime::sampler::plan;
use std::path::PathBuf;

/// Options of `edgediff compile`.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The int8 ONNX written by `edgediff quantize`.
    #[arg(long)]
    pub model: PathBuf,
    /// The pack to write.
    #[arg(long)]
    pub out: PathBuf,
    /// The sampler (must match the one the model was quantized for).
    #[command(flatten)]
    pub sampler: SamplerArgs,
    /// Overwrite an existing output.
    #[arg(long)]
    pub force: bool,
}

/// Compiles; returns the pack and the graph's weight bytes.
pub fn compile(args: &Args) -> Result<(CompiledPack, crate::ir::QGraph, plan::Plan), Error> {
    let file = args.model.display().to_string();
    let qm = qonnx::read(&read_model(&args.model)?, &file)?;
    let spec = args.sampler.resolve()?;
    let plan = spec.plan()?;
    let ts: Vec<u32> = plan.rows.iter().map(|r| r.t).collect();
    if ts != qm.timesteps {
        return Err(Error::Input(format!(
            "{file}: quantized for timesteps {:?}, but this sampler visits {ts:?}; run `edgediff quantize` with the same sampler options",
            qm.timesteps
        )));
    }
    let compiled = write_pack(&qm.graph, &plan, spec.clip)?;
    Ok((compiled, qm.graph, plan))
}

/// Runs the command.
pub fn run(args: &Args) -> Result<(), Error> {
    let (c, g, plan) = compile(args)?;
    write_atomic(&args.out, &c.bytes, args.force)?;
    let weights: usize = g
        .ops
        .iter()
        .map(|o| match o {
            QOp::Conv {
                weights,
                bias,
                w_scales,
                ..
            } => weights.len() + 4 * (bias.len() + w_scales.len()),
            _ => 0,
        })
        .sum();
    let evals = plan.evaluations()
        * if g.num_classes > 0 && g.guidance != 1.0 {
            2
        } else {
            1
        };
    println!("wrote {}", args.out.display());
    println!(
        "flash: {} bytes total = {} weights/biases/scales + {} tables (embeddings, activations, norms) + {} schedule and structure",
        c.bytes.len(),
        weights,
        c.blob_bytes - weights,
        c.bytes.len() - c.blob_bytes
    );
    let tables: Vec<String> = g
        .ops
        .iter()
        .filter_map(|o| match o {
            QOp::Embed { table, by, output } => Some(format!(
                "{} {} B ({} rows of {})",
                by.op_kind().name(),
                table.len(),
                table.len() / g.tensors[*output].len().max(1),
                g.tensors[*output].len()
            )),
            _ => None,
        })
        .collect();
    if !tables.is_empty() {
        println!("       timestep/label tables: {}", tables.join(", "));
    }
    println!(
        "RAM:   arena {} bytes (planner lower bound {}), sampler state {} bytes per sample",
        c.arena.total, c.arena.lower_bound, c.state_bytes
    );
    println!(
        "MACs:  {} per network evaluation, {} per sample ({} evaluations)",
        g.macs(),
        g.macs() * evals,
        evals
    );
    Ok(())
}
