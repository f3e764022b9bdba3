//! Splits a normalized graph by what each tensor depends on: the sample, the timestep, the
//! label. The sample path runs on the device; the tensors it reads from the timestep and
//! label paths become tables.

use crate::error::Error;
use crate::onnx::normalize::Inputs;
use edgediff_runtime::pack::layout::EmbedIndex;
use std::collections::HashMap;
use tract_onnx::pb::GraphProto;

const X: u8 = 1;
const T: u8 = 2;
const L: u8 = 4;

/// A tensor of the timestep/label paths read by the sample path.
#[derive(Clone, Debug, PartialEq)]
pub struct Boundary {
    /// Tensor name.
    pub name: String,
    /// What selects its table row.
    pub by: EmbedIndex,
}

/// The partition of a graph.
#[derive(Clone, Debug)]
pub struct Partition {
    /// Per node: whether it computes with the sample.
    on_sample_path: Vec<bool>,
    /// The tables the sample path reads, in first-use order.
    pub boundary: Vec<Boundary>,
    /// Classes of the label input (0: unconditional).
    pub num_classes: u16,
}

impl Partition {
    /// Indices of the nodes that compute with the sample, in graph order.
    pub fn sample_nodes(&self) -> impl Iterator<Item = usize> + '_ {
        self.on_sample_path
            .iter()
            .enumerate()
            .filter(|(_, s)| **s)
            .map(|(i, _)| i)
    }
}

/// Partitions `graph` (normalized, so topologically sorted with constants folded).
pub fn partition(graph: &GraphProto, inputs: &Inputs, file: &str) -> Result<Partition, Error> {
    let bad = |what: String| Error::Input(format!("{file}: {what}"));
    let mut deps: HashMap<&str, u8> = HashMap::new();
    deps.insert(&inputs.x.0, X);
    if let Some((t, _)) = &inputs.t {
        deps.insert(t, T);
    }
    if let Some(l) = &inputs.label {
        deps.insert(l, L);
    }
    let of = |deps: &HashMap<&str, u8>, inputs: &[String]| {
        inputs.iter().fold(0u8, |acc, i| {
            acc | deps.get(i.as_str()).copied().unwrap_or(0)
        })
    };
    let mut on_sample_path = Vec::with_capacity(graph.node.len());
    let mut boundary: Vec<Boundary> = vec![];
    for n in &graph.node {
        let d = of(&deps, &n.input);
        for o in &n.output {
            deps.insert(o, d);
        }
        on_sample_path.push(d & X != 0);
        if d & X == 0 {
            continue;
        }
        for i in &n.input {
            let di = deps.get(i.as_str()).copied().unwrap_or(0);
            if di == 0 || di & X != 0 || boundary.iter().any(|b| &b.name == i) {
                continue;
            }
            let by = match (di & T != 0, di & L != 0) {
                (true, true) => EmbedIndex::StepClass,
                (true, false) => EmbedIndex::Step,
                _ => EmbedIndex::Class,
            };
            boundary.push(Boundary {
                name: i.clone(),
                by,
            });
        }
    }
    let num_classes = match &inputs.label {
        None => 0,
        Some(l) => {
            // The class table is the initializer a Gather indexes with the label.
            let rows = graph
                .node
                .iter()
                .filter(|n| n.op_type == "Gather")
                .filter(|n| {
                    n.input
                        .get(1)
                        .is_some_and(|i| deps.get(i.as_str()).is_some_and(|d| d & L != 0))
                })
                .find_map(|n| {
                    let table = n.input.first()?;
                    graph
                        .initializer
                        .iter()
                        .find(|t| &t.name == table)
                        .and_then(|t| t.dims.first().copied())
                })
                .ok_or_else(|| {
                    bad(format!(
                        "label input `{l}` must index an embedding table (nn.Embedding) of \
                         classes + 1 rows, the last the null label of classifier-free guidance"
                    ))
                })?;
            u16::try_from(rows - 1)
                .ok()
                .filter(|c| *c > 0)
                .ok_or_else(|| {
                    bad(format!(
                        "the class table of label `{l}` has {rows} rows; expected classes + 1 \
                         (2 to 65,536)"
                    ))
                })?
        }
    };
    Ok(Partition {
        on_sample_path,
        boundary,
        num_classes,
    })
}
