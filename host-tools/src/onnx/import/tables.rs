//! Evaluates the tensors the sample path reads from the timestep and label paths, with
//! tract, for every sampling step and label: the rows of the embedding tables.

use super::ops::per_sample;
use super::partition::Partition;
use crate::engines::tract::guarded;
use crate::error::Error;
use crate::onnx::normalize::Inputs;
use edgediff_runtime::pack::layout::EmbedIndex;
use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;

/// A per-sample shape and the rows of a table.
pub type Table = ([usize; 3], Vec<f32>);
/// A tensor's full shape and values.
type Values = (Vec<usize>, Vec<f32>);

/// The tables of `part.boundary`, rows in [`EmbedIndex::row`] order for the sampling steps at
/// `timesteps` and labels `0..=classes` (the last the null label).
pub fn evaluate(
    model: &ModelProto,
    file: &str,
    part: &Partition,
    inputs: &Inputs,
    timesteps: &[u32],
) -> Result<Vec<Table>, Error> {
    if part.boundary.is_empty() {
        return Ok(vec![]);
    }
    let te = |e: TractError| {
        Error::Input(format!(
            "{file}: tract could not evaluate the timestep/label subgraph: {e}"
        ))
    };
    let names: Vec<&str> = part.boundary.iter().map(|b| b.name.as_str()).collect();
    let plan = guarded(|| {
        tract_onnx::onnx()
            .model_for_proto_model(model)
            .and_then(|m| m.with_outputs_by_name(&names))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
    })
    .map_err(te)?;
    let classes = part.num_classes;
    let zeros = vec![0.0f32; inputs.x.1.iter().product()];
    // One run per (step, label) pair needed; each gives every boundary tensor.
    let run = |t: u32, label: u16| -> Result<Vec<Values>, Error> {
        let ins = inputs.feed(&zeros, i64::from(t), label).map_err(te)?;
        let outs = guarded(|| plan.run(ins)).map_err(te)?;
        outs.iter()
            .map(|o| {
                let v = o
                    .cast_to::<f32>()
                    .map_err(te)?
                    .to_plain_array_view::<f32>()
                    .map_err(te)?
                    .iter()
                    .copied()
                    .collect::<Vec<f32>>();
                Ok((o.shape().to_vec(), v))
            })
            .collect()
    };
    let first_t = timesteps.first().copied().unwrap_or(0);
    let mut tables: Vec<Table> = vec![([0; 3], vec![]); part.boundary.len()];
    let needs = |by: EmbedIndex| part.boundary.iter().any(|b| b.by == by);
    let mut fill = |rows: &[Values], by: EmbedIndex| -> Result<(), Error> {
        for (k, b) in part.boundary.iter().enumerate() {
            if b.by != by {
                continue;
            }
            let (shape, v) = &rows[k];
            tables[k].0 = per_sample(shape).ok_or_else(|| {
                Error::Input(format!(
                    "{file}: tensor `{}` has shape {shape:?}, expected batch 1",
                    b.name
                ))
            })?;
            tables[k].1.extend_from_slice(v);
        }
        Ok(())
    };
    for t in timesteps {
        if needs(EmbedIndex::Step) {
            fill(&run(*t, classes)?, EmbedIndex::Step)?;
        }
        if needs(EmbedIndex::StepClass) {
            for label in 0..=classes {
                fill(&run(*t, label)?, EmbedIndex::StepClass)?;
            }
        }
    }
    if needs(EmbedIndex::Class) {
        for label in 0..=classes {
            fill(&run(first_t, label)?, EmbedIndex::Class)?;
        }
    }
    Ok(tables)
}
