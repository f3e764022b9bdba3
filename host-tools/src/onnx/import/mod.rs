//! Reads a float denoising network from ONNX into a [`FloatGraph`].
//!
//! 1. [`normalize`](crate::onnx::normalize) fixes the input shapes and folds every constant
//!    tensor (the exporters' shape arithmetic) with tract's analysis.
//! 2. [`partition`]: each tensor is classified by what it depends on: the sample `x`, the
//!    timestep, the class label. Tensors computed from the timestep and/or the label alone
//!    and read by the sample path are evaluated by tract for every sampling step and label
//!    and frozen into tables ([`tables`]), so the device never evaluates Sin, Cos, Exp or
//!    the time MLP. A tensor computed from both becomes one `steps x (classes + 1)` table.
//! 3. [`ops`] matches the sample path op by op, on the folded graph; chains of
//!    element-wise ops become lookup-table activations ([`regions`]); reshapes, transposes
//!    and slices are [`layout`]'s, attention's products and softmax [`attention`]'s, LayerNorm
//!    and RMSNorm (the op or written out) [`norm`]'s; conv and pooling windows [`window`]'s.

mod attention;
mod layout;
mod norm;
mod ops;
mod partition;
mod regions;
mod tables;
mod window;

use crate::error::Error;
use crate::ir::{FOp, FloatGraph};
use crate::onnx::metadata;
use crate::onnx::normalize::{Inputs, normalize};
use edgediff_runtime::prediction::PredictionType;
use tract_onnx::pb::ModelProto;

pub use ops::SUPPORTED;

/// What the importer needs besides the file.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// Training timesteps of the sampling steps (rows of the step tables).
    pub timesteps: Vec<u32>,
    /// The prediction type from the command line; overrides what the file records. `None`:
    /// the file's `edgediff.prediction` or `prediction_type` metadata, else epsilon.
    pub prediction: Option<PredictionType>,
}

/// Imports `model` (read from `file`, named in errors).
pub fn import(model: &ModelProto, file: &str, opts: &ImportOptions) -> Result<FloatGraph, Error> {
    let bad = |what: String| Error::Input(format!("{file}: {what}"));
    if metadata::get(model, metadata::TIMESTEPS).is_some() {
        return Err(bad(
            "this is an int8 ONNX written by `edgediff quantize`; quantize and the \
             tract-float engine take the float model"
                .into(),
        ));
    }
    let prediction = metadata::prediction(model, file, opts.prediction)?;
    let norm = normalize(model, file)?;
    let inputs = Inputs::of(&norm.model, file)?;
    let graph = norm
        .model
        .graph
        .as_ref()
        .ok_or_else(|| bad("the model has no graph".into()))?;
    let part = partition::partition(graph, &inputs, file)?;
    let tables = tables::evaluate(&norm.model, file, &part, &inputs, &opts.timesteps)?;
    let sample_shape = ops::per_sample(&inputs.x.1).ok_or_else(|| {
        bad(format!(
            "input `{}` has shape {:?}; expected [1, d], [1, c, d] or [1, c, h, w] (batch 1)",
            inputs.x.0, inputs.x.1
        ))
    })?;
    let mut ctx = ops::Ctx::new(file, graph, &norm.shapes);
    let input = ctx.add_tensor(&inputs.x.0, sample_shape);
    for (b, (shape, table)) in part.boundary.iter().zip(tables) {
        let output = ctx.add_tensor(&b.name, shape);
        ctx.push(FOp::Embed {
            output,
            table,
            by: b.by,
        });
    }
    for ni in part.sample_nodes() {
        ctx.node(ni)?;
    }
    let out_name = graph
        .output
        .first()
        .map(|o| o.name.clone())
        .ok_or_else(|| bad("the graph has no output".into()))?;
    let (tensors, ops, output) = ctx.finish(&out_name)?;
    if tensors[output].len() != tensors[input].len() {
        return Err(bad(format!(
            "shape mismatch: output `{out_name}` has {} values, the sample has {}",
            tensors[output].len(),
            tensors[input].len()
        )));
    }
    Ok(FloatGraph {
        sample_shape,
        prediction,
        num_classes: part.num_classes,
        tensors,
        ops,
        input,
        output,
    })
}
