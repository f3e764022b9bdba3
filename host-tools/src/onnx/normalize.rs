//! Graph normalization before op matching: static input shapes, constants folded.
//!
//! Exporters compute target shapes from the data: PyTorch's TorchScript exporter writes
//! GroupNorm as `Shape -> Gather -> Concat -> Reshape -> InstanceNormalization -> Shape ->
//! Reshape`, the dynamo exporter emits `Constant`s, `Cast`s and `Expand`s, and both name
//! their dimensions symbolically. Instead of recognising each exporter's shape subgraph, the
//! inputs are fixed to static shapes (batch 1), tract's own analysis propagates shapes and
//! evaluates every tensor that no longer depends on an input (`Shape`, `Gather`/`Slice` on
//! shapes, `Concat`/`Unsqueeze`/`Squeeze` of shape vectors, `ConstantOfShape`, `Expand`,
//! `Range`, `Where` on constants, `Cast`, `Constant`), and the graph is rewritten with those
//! tensors as initializers and without the nodes that computed them. `Identity`, `Dropout`
//! and float-to-float `Cast` are removed by renaming. The op matcher then sees only the ops
//! that compute with the sample, the timestep and the label.

use super::external;
use crate::engines::tract::guarded;
use crate::error::Error;
use std::collections::{HashMap, HashSet};
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::{Dimension, dimension};
use tract_onnx::pb::{ModelProto, TensorProto, type_proto};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

/// What each graph input is.
#[derive(Clone, Debug, PartialEq)]
pub struct Inputs {
    /// The sample `x` (a float input) and its static shape.
    pub x: (String, Vec<usize>),
    /// The timestep (integer or float).
    pub t: Option<(String, bool)>,
    /// The class label (integer).
    pub label: Option<String>,
    /// Graph inputs in order, with their static shapes.
    pub order: Vec<(String, Vec<usize>)>,
}

impl Inputs {
    /// Reads the roles of a normalized model's inputs: the label is the integer input named
    /// like a label (`label`, `class`, `y`, `cond`); the sample is the float input with the
    /// most elements; the remaining input is the timestep (`true` when it is a float).
    pub fn of(model: &ModelProto, file: &str) -> Result<Self, Error> {
        let bad = |what: String| Error::Input(format!("{file}: {what}"));
        let graph = model
            .graph
            .as_ref()
            .ok_or_else(|| bad("the model has no graph".into()))?;
        let inits: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
        let mut floats = vec![];
        let mut ints = vec![];
        let mut order = vec![];
        for i in graph
            .input
            .iter()
            .filter(|i| !inits.contains(i.name.as_str()))
        {
            let (elem, dims) = super::value_dims(i)
                .ok_or_else(|| bad(format!("input `{}` has no tensor type", i.name)))?;
            let dims: Vec<usize> = dims
                .iter()
                .map(|d| usize::try_from(*d).ok())
                .collect::<Option<_>>()
                .ok_or_else(|| bad(format!("input `{}` has a symbolic shape {dims:?}", i.name)))?;
            order.push((i.name.clone(), dims.clone()));
            if is_float(elem) {
                floats.push((i.name.clone(), dims));
            } else if elem == DataType::Int64 as i32 || elem == DataType::Int32 as i32 {
                ints.push(i.name.clone());
            } else {
                return Err(bad(format!(
                    "input `{}` has element type {}; expected a float sample, an integer or \
                     float timestep and an integer label",
                    i.name,
                    type_name(elem)
                )));
            }
        }
        let labelish = |n: &str| {
            let n = n.to_lowercase();
            n.contains("label") || n.contains("class") || n.contains("cond") || n == "y"
        };
        let label = ints.iter().find(|n| labelish(n)).cloned();
        ints.retain(|n| Some(n) != label.as_ref());
        floats.sort_by_key(|(_, d)| std::cmp::Reverse(d.iter().product::<usize>()));
        let mut floats = floats.into_iter();
        let x = floats
            .next()
            .ok_or_else(|| bad("missing input: no float sample input x".into()))?;
        let mut t: Vec<(String, bool)> = floats.map(|(n, _)| (n, true)).collect();
        t.extend(ints.into_iter().map(|n| (n, false)));
        if t.len() > 1 {
            let names: Vec<&String> = order.iter().map(|(n, _)| n).collect();
            return Err(bad(format!(
                "inputs {names:?}: expected one sample, one timestep and at most one label \
                 (named `label`, `class...` or `y`)"
            )));
        }
        Ok(Self {
            x,
            t: t.pop(),
            label,
            order,
        })
    }
}

impl Inputs {
    /// The graph's inputs for one evaluation, each in its own shape: the sample `x`, the
    /// timestep `t` (as the input's type) and `label`, broadcast over their inputs' shapes.
    pub fn feed(&self, x: &[f32], t: i64, label: u16) -> TractResult<TVec<TValue>> {
        self.order
            .iter()
            .map(|(name, shape)| {
                let n = shape.iter().product::<usize>();
                let v = if *name == self.x.0 {
                    Tensor::from_shape(shape, x)?
                } else if self.label.as_ref() == Some(name) {
                    Tensor::from_shape(shape, &vec![i64::from(label); n])?
                } else if self.t.as_ref().is_some_and(|(_, float)| *float) {
                    Tensor::from_shape(shape, &vec![t as f32; n])?
                } else {
                    Tensor::from_shape(shape, &vec![t; n])?
                };
                Ok(v.into())
            })
            .collect()
    }
}

fn is_float(elem: i32) -> bool {
    [
        DataType::Float,
        DataType::Float16,
        DataType::Double,
        DataType::Bfloat16,
    ]
    .iter()
    .any(|d| *d as i32 == elem)
}

fn type_name(elem: i32) -> String {
    DataType::try_from(elem)
        .map(|d| d.as_str_name().to_lowercase())
        .unwrap_or_else(|_| elem.to_string())
}

/// Sets every graph input's shape to static sizes: a symbolic first dimension becomes the
/// batch of 1; any other symbolic dimension is an error naming it.
fn fix_input_shapes(model: &mut ModelProto, file: &str) -> Result<(), Error> {
    let Some(graph) = model.graph.as_mut() else {
        return Ok(());
    };
    let inits: HashSet<String> = graph.initializer.iter().map(|t| t.name.clone()).collect();
    for input in graph.input.iter_mut().filter(|i| !inits.contains(&i.name)) {
        let Some(type_proto::Value::TensorType(t)) =
            input.r#type.as_mut().and_then(|t| t.value.as_mut())
        else {
            continue;
        };
        let Some(shape) = t.shape.as_mut() else {
            return Err(Error::Input(format!(
                "{file}: input `{}` has no shape; export with example inputs so the shape is \
                 recorded",
                input.name
            )));
        };
        for (axis, d) in shape.dim.iter_mut().enumerate() {
            let fixed = match &d.value {
                Some(dimension::Value::DimValue(v)) if *v > 0 => continue,
                _ if axis == 0 => 1,
                other => {
                    let name = match other {
                        Some(dimension::Value::DimParam(p)) => format!("`{p}`"),
                        _ => "unnamed".into(),
                    };
                    return Err(Error::Input(format!(
                        "{file}: input `{}` has a symbolic dimension {name} on axis {axis}; \
                         only the batch (axis 0) may be symbolic: export with a fixed sample \
                         size (no dynamic_axes / dynamic_shapes on that axis)",
                        input.name
                    )));
                }
            };
            *d = Dimension {
                denotation: d.denotation.clone(),
                value: Some(dimension::Value::DimValue(fixed)),
            };
        }
    }
    // Recorded intermediate and output shapes may name the batch symbolically; tract
    // infers them from the now static inputs.
    graph.value_info.clear();
    for o in &mut graph.output {
        if let Some(type_proto::Value::TensorType(t)) =
            o.r#type.as_mut().and_then(|t| t.value.as_mut())
        {
            t.shape = None;
        }
    }
    Ok(())
}

/// A constant as an initializer: floats as `f32`, everything else as `i64`.
fn to_proto(name: &str, t: &Tensor) -> TractResult<TensorProto> {
    let dims = t.shape().iter().map(|d| *d as i64).collect();
    let mut p = TensorProto {
        name: name.into(),
        dims,
        ..Default::default()
    };
    if t.datum_type().is_float() {
        let v = t.cast_to::<f32>()?;
        p.data_type = DataType::Float as i32;
        p.float_data = v.to_plain_array_view::<f32>()?.iter().copied().collect();
    } else {
        let v = t.cast_to::<i64>()?;
        p.data_type = DataType::Int64 as i32;
        p.int64_data = v.to_plain_array_view::<i64>()?.iter().copied().collect();
    }
    Ok(p)
}

/// A model after [`normalize`].
#[derive(Clone, Debug)]
pub struct Normalized {
    /// The rewritten model.
    pub model: ModelProto,
    /// The static shape of every tensor tract could infer, by name.
    pub shapes: HashMap<String, Vec<usize>>,
}

/// Returns `model` with static input shapes, every constant tensor folded into an
/// initializer, and `Identity` / `Dropout` / float `Cast` nodes removed, with the inferred
/// shape of every tensor. Nothing else changes: node names, tensor names and the ops that
/// compute with the inputs stay.
pub fn normalize(model: &ModelProto, file: &str) -> Result<Normalized, Error> {
    if external::has_external(model) {
        return Err(Error::Input(format!(
            "{file}: the weights are in external data; read the model from its file so the \
             side file beside it is found"
        )));
    }
    let mut proto = model.clone();
    fix_input_shapes(&mut proto, file)?;
    let te = |e: TractError| {
        Error::Input(format!(
            "{file}: tract could not analyse the graph with static input shapes: {e:#}"
        ))
    };
    let parsed = guarded(|| {
        let mut parsed = tract_onnx::onnx().parse(&proto, None)?;
        parsed.model.analyse(false)?;
        Ok(parsed)
    })
    .map_err(te)?;
    let mut consts: HashMap<String, Arc<Tensor>> = HashMap::new();
    let mut float_tensors: HashSet<String> = HashSet::new();
    let mut shapes: HashMap<String, Vec<usize>> = HashMap::new();
    for (name, outlet) in &parsed.outlets_by_name {
        let fact = parsed.model.outlet_fact(*outlet).map_err(te)?;
        if let Ok(Some(s)) = fact.shape.as_concrete_finite() {
            shapes.insert(name.clone(), s.to_vec());
        }
        if let Some(v) = fact.value.concretize() {
            consts.insert(name.clone(), v);
        }
        if fact.datum_type.concretize().is_some_and(|d| d.is_float()) {
            float_tensors.insert(name.clone());
        }
    }
    let Some(graph) = proto.graph.as_mut() else {
        return Ok(Normalized {
            model: proto,
            shapes,
        });
    };
    let outputs: HashSet<String> = graph.output.iter().map(|o| o.name.clone()).collect();
    let mut alias: HashMap<String, String> = HashMap::new();
    let resolve = |alias: &HashMap<String, String>, n: &str| {
        let mut n = n.to_string();
        while let Some(a) = alias.get(&n) {
            n = a.clone();
        }
        n
    };
    let mut nodes = vec![];
    for node in std::mem::take(&mut graph.node) {
        let outs: Vec<&String> = node.output.iter().filter(|o| !o.is_empty()).collect();
        if !outs.is_empty() && outs.iter().all(|o| consts.contains_key(*o)) {
            continue;
        }
        let first_in = node.input.first().map(|i| resolve(&alias, i));
        let out0 = node.output.first().cloned().unwrap_or_default();
        let renames = match node.op_type.as_str() {
            "Identity" | "Dropout" => true,
            "Cast" => {
                float_tensors.contains(&out0)
                    && first_in.as_ref().is_some_and(|i| float_tensors.contains(i))
            }
            _ => false,
        };
        if renames
            && !outputs.contains(&out0)
            && node.output.iter().skip(1).all(String::is_empty)
            && let Some(src) = first_in
        {
            alias.insert(out0, src);
            continue;
        }
        let mut node = node;
        for i in &mut node.input {
            if !i.is_empty() {
                *i = resolve(&alias, i);
            }
        }
        nodes.push(node);
    }
    let used: HashSet<String> = nodes
        .iter()
        .flat_map(|n| n.input.iter().cloned())
        .chain(outputs.iter().cloned())
        .collect();
    let inputs: HashSet<String> = graph.input.iter().map(|i| i.name.clone()).collect();
    graph.initializer.retain(|t| used.contains(&t.name));
    let have: HashSet<String> = graph.initializer.iter().map(|t| t.name.clone()).collect();
    let mut new_inits: Vec<&String> = used
        .iter()
        .filter(|n| consts.contains_key(*n) && !have.contains(*n) && !inputs.contains(*n))
        .collect();
    new_inits.sort();
    for name in new_inits {
        let p = to_proto(name, &consts[name]).map_err(te)?;
        graph.initializer.push(p);
    }
    graph
        .input
        .retain(|i| used.contains(&i.name) || !have.contains(&i.name));
    graph.node = nodes;
    Ok(Normalized {
        model: proto,
        shapes,
    })
}
