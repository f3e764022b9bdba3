//! Reads a float epsilon-network from ONNX into a [`FloatGraph`].
//!
//! The graph is split by what each tensor depends on: the sample input `x`, the timestep, or
//! the class label. Nodes that depend only on the timestep (sinusoidal embedding, time MLP)
//! or only on the label (class embedding) are evaluated by tract for every sampling step and
//! every label and frozen into tables, so the quantizer never needs Sin, Cos or Exp. The
//! sample path is matched op by op, including the patterns `torch.onnx.export` produces:
//! Linear as Gemm or MatMul + Add, SiLU as Sigmoid * Mul, GELU as Div / Erf / Add / Mul / Mul,
//! GroupNorm as Reshape / InstanceNormalization / Reshape / Mul / Add.

use crate::compile::graph::Activation;
use crate::engines::tract::guarded;
use crate::error::Error;
use crate::model::{FOp, FTensor, FloatGraph};
use edgediff_runtime::prediction::PredictionType;
use std::collections::{HashMap, HashSet};
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{ModelProto, NodeProto, TensorProto};
use tract_onnx::prelude::*;

/// The sample-path ops the importer understands.
pub const SUPPORTED: &str = "Gemm, MatMul (+ Add), Conv, Add, Sigmoid * Mul (SiLU), Sigmoid, \
Relu, Gelu (or its Erf pattern), Concat (channels), Resize / Upsample (nearest, x2), \
GroupNormalization or Reshape-InstanceNormalization-Reshape-Mul-Add (GroupNorm), Reshape, \
Flatten, Squeeze, Unsqueeze, Identity";

/// What the importer needs besides the file.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// Training timesteps of the sampling steps (rows of the step tables).
    pub timesteps: Vec<u32>,
    /// Prediction type when the file does not record one.
    pub prediction: PredictionType,
}

const X: u8 = 1;
const T: u8 = 2;
const L: u8 = 4;

struct Ctx<'a> {
    file: &'a str,
    nodes: &'a [NodeProto],
    inits: HashMap<String, (Vec<i64>, Vec<f32>)>,
    consumers: HashMap<String, Vec<usize>>,
    consumed: HashSet<usize>,
    tensors: Vec<FTensor>,
    index: HashMap<String, usize>,
    ops: Vec<FOp>,
}

fn attr_i(n: &NodeProto, name: &str) -> Option<i64> {
    n.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}

fn attr_ints(n: &NodeProto, name: &str) -> Option<Vec<i64>> {
    n.attribute
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.ints.clone())
}

fn attr_f(n: &NodeProto, name: &str) -> Option<f32> {
    n.attribute.iter().find(|a| a.name == name).map(|a| a.f)
}

/// Decodes a numeric tensor to `f32` (`i64` and `i32` too, for shapes and scales).
fn decode(t: &TensorProto) -> Option<Vec<f32>> {
    let raw = &t.raw_data;
    match DataType::try_from(t.data_type).ok()? {
        DataType::Float if !raw.is_empty() => Some(
            raw.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        DataType::Float => Some(t.float_data.clone()),
        DataType::Int64 if !raw.is_empty() => Some(
            raw.chunks_exact(8)
                .map(|c| {
                    i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32
                })
                .collect(),
        ),
        DataType::Int64 => Some(t.int64_data.iter().map(|v| *v as f32).collect()),
        DataType::Int32 if !raw.is_empty() => Some(
            raw.chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32)
                .collect(),
        ),
        DataType::Int32 => Some(t.int32_data.iter().map(|v| *v as f32).collect()),
        _ => None,
    }
}

/// `[1, f]`, `[1, c, h, w]` and friends as a per-sample `[c, h, w]`.
fn per_sample(dims: &[i64]) -> Option<[usize; 3]> {
    let d: Vec<usize> = dims
        .iter()
        .map(|v| usize::try_from(*v).ok())
        .collect::<Option<_>>()?;
    match d.as_slice() {
        [1, f] | [f] => Some([*f, 1, 1]),
        [1, c, h, w] => Some([*c, *h, *w]),
        [1, c, f] => Some([*c * *f, 1, 1]),
        _ => None,
    }
}

impl Ctx<'_> {
    fn err(&self, node: &NodeProto, what: String) -> Error {
        Error::Input(format!(
            "{}: node `{}` ({}): {what}",
            self.file, node.name, node.op_type
        ))
    }

    fn tensor(&self, node: &NodeProto, name: &str) -> Result<usize, Error> {
        self.index.get(name).copied().ok_or_else(|| {
            self.err(
                node,
                format!("input `{name}` is neither on the sample path nor a timestep/label table"),
            )
        })
    }

    fn init(&self, name: &str) -> Option<&(Vec<i64>, Vec<f32>)> {
        self.inits.get(name)
    }

    fn add_tensor(&mut self, name: &str, shape: [usize; 3]) -> usize {
        self.tensors.push(FTensor {
            name: name.into(),
            shape,
        });
        let i = self.tensors.len() - 1;
        self.index.insert(name.into(), i);
        i
    }

    /// The single consumer of `tensor`, if exactly one node reads it.
    fn sole_consumer(&self, tensor: &str) -> Option<usize> {
        match self.consumers.get(tensor).map(Vec::as_slice) {
            Some([one]) => Some(*one),
            _ => None,
        }
    }

    /// If the only reader of `out` is `Add(out, bias initializer of len n)`, consumes it and
    /// returns the bias and the Add's output name.
    fn fold_bias(&mut self, out: &str, n: usize) -> Option<(Vec<f32>, String)> {
        let ci = self.sole_consumer(out)?;
        let add = &self.nodes[ci];
        if add.op_type != "Add" {
            return None;
        }
        let other = add.input.iter().find(|i| i.as_str() != out)?;
        let (_, b) = self.init(other)?;
        if b.len() != n {
            return None;
        }
        let res = (b.clone(), add.output.first()?.clone());
        self.consumed.insert(ci);
        Some(res)
    }

    fn linear(
        &mut self,
        node: &NodeProto,
        input: &str,
        w: Vec<f32>,
        out_f: usize,
        in_f: usize,
        bias: Option<Vec<f32>>,
    ) -> Result<(), Error> {
        let x = self.tensor(node, input)?;
        if self.tensors[x].len() != in_f {
            return Err(self.err(
                node,
                format!(
                    "expects {in_f} input features, the input has {}",
                    self.tensors[x].len()
                ),
            ));
        }
        let out_name = node.output.first().cloned().unwrap_or_default();
        let (bias, out_name) = match bias {
            Some(b) => (b, out_name),
            None => self
                .fold_bias(&out_name, out_f)
                .unwrap_or((vec![0.0; out_f], out_name)),
        };
        let y = self.add_tensor(&out_name, [out_f, 1, 1]);
        self.ops.push(FOp::Conv {
            name: node.name.clone(),
            input: x,
            output: y,
            weights: w,
            bias,
            kernel: [1, 1],
            stride: 1,
            pad: 0,
        });
        Ok(())
    }

    fn act(
        &mut self,
        node: &NodeProto,
        input: &str,
        output: &str,
        act: Activation,
    ) -> Result<(), Error> {
        let x = self.tensor(node, input)?;
        let shape = self.tensors[x].shape;
        let y = self.add_tensor(output, shape);
        self.ops.push(FOp::Act {
            input: x,
            output: y,
            act,
        });
        Ok(())
    }

    fn node(&mut self, ni: usize) -> Result<(), Error> {
        let node = &self.nodes[ni];
        let inp = |k: usize| node.input.get(k).map(String::as_str).unwrap_or("");
        let out = node.output.first().map(String::as_str).unwrap_or("");
        match node.op_type.as_str() {
            "Gemm" => {
                let (dims, w) = self
                    .init(inp(1))
                    .cloned()
                    .ok_or_else(|| self.err(node, "weight B must be an initializer".into()))?;
                if attr_f(node, "alpha").is_some_and(|a| a != 1.0)
                    || attr_f(node, "beta").is_some_and(|b| b != 1.0)
                    || attr_i(node, "transA").unwrap_or(0) != 0
                {
                    return Err(self.err(
                        node,
                        "only alpha = beta = 1 and transA = 0 are supported".into(),
                    ));
                }
                let (n, k, w) = if attr_i(node, "transB").unwrap_or(0) == 1 {
                    (dims[0] as usize, dims[1] as usize, w)
                } else {
                    let (k, n) = (dims[0] as usize, dims[1] as usize);
                    (n, k, transpose(&w, k, n))
                };
                let bias = match node.input.get(2) {
                    Some(c) if !c.is_empty() => Some(
                        self.init(c)
                            .map(|b| b.1.clone())
                            .filter(|b| b.len() == n)
                            .ok_or_else(|| {
                                self.err(
                                    node,
                                    format!("bias C must be an initializer of {n} values"),
                                )
                            })?,
                    ),
                    _ => None,
                };
                self.linear(node, inp(0), w, n, k, bias)
            }
            "MatMul" => {
                let (dims, w) = self.init(inp(1)).cloned().ok_or_else(|| {
                    self.err(
                        node,
                        "the second operand must be a weight initializer".into(),
                    )
                })?;
                if dims.len() != 2 {
                    return Err(self.err(node, format!("weight must be 2-D, got shape {dims:?}")));
                }
                let (k, n) = (dims[0] as usize, dims[1] as usize);
                self.linear(node, inp(0), transpose(&w, k, n), n, k, None)
            }
            "Conv" => {
                let (dims, w) = self
                    .init(inp(1))
                    .cloned()
                    .ok_or_else(|| self.err(node, "weight must be an initializer".into()))?;
                if dims.len() != 4 {
                    return Err(self.err(
                        node,
                        format!("only 2-D convs are supported, weight shape {dims:?}"),
                    ));
                }
                if attr_i(node, "group").unwrap_or(1) != 1
                    || attr_ints(node, "dilations").is_some_and(|d| d.iter().any(|v| *v != 1))
                {
                    return Err(self.err(node, "group and dilation must be 1".into()));
                }
                let strides = attr_ints(node, "strides").unwrap_or(vec![1, 1]);
                let pads = attr_ints(node, "pads").unwrap_or(vec![0; 4]);
                if strides.iter().any(|s| *s != strides[0]) || pads.iter().any(|p| *p != pads[0]) {
                    return Err(self.err(
                        node,
                        format!(
                            "strides {strides:?} and pads {pads:?} must be equal on every side"
                        ),
                    ));
                }
                let [oc, ic, kh, kw] = [dims[0], dims[1], dims[2], dims[3]].map(|d| d as usize);
                let x = self.tensor(node, inp(0))?;
                let [c, h, wd] = self.tensors[x].shape;
                if c != ic {
                    return Err(self.err(
                        node,
                        format!("weight expects {ic} input channels, the input has {c}"),
                    ));
                }
                let (s, p) = (strides[0] as usize, pads[0] as usize);
                if s == 0 || h + 2 * p < kh || wd + 2 * p < kw {
                    return Err(self.err(
                        node,
                        "kernel larger than the padded input, or stride 0".into(),
                    ));
                }
                let shape = [oc, (h + 2 * p - kh) / s + 1, (wd + 2 * p - kw) / s + 1];
                let bias = match node.input.get(2) {
                    Some(b) if !b.is_empty() => Some(
                        self.init(b)
                            .map(|v| v.1.clone())
                            .ok_or_else(|| self.err(node, "bias must be an initializer".into()))?,
                    ),
                    _ => None,
                };
                let (bias, out_name) = match bias {
                    Some(b) => (b, out.to_string()),
                    None => self
                        .fold_bias(out, oc)
                        .unwrap_or((vec![0.0; oc], out.to_string())),
                };
                let y = self.add_tensor(&out_name, shape);
                self.ops.push(FOp::Conv {
                    name: node.name.clone(),
                    input: x,
                    output: y,
                    weights: w,
                    bias,
                    kernel: [kh, kw],
                    stride: s,
                    pad: p,
                });
                Ok(())
            }
            "Add" => {
                let (a, b) = (self.tensor(node, inp(0))?, self.tensor(node, inp(1))?);
                let (sa, sb) = (self.tensors[a].shape, self.tensors[b].shape);
                let (a, b) = if sa == sb || sb == [sa[0], 1, 1] {
                    (a, b)
                } else if sa == [sb[0], 1, 1] {
                    (b, a)
                } else {
                    return Err(self.err(node, format!("shape mismatch: {sa:?} + {sb:?} (same shapes or a per-channel [c, 1, 1] operand)")));
                };
                let shape = self.tensors[a].shape;
                let y = self.add_tensor(out, shape);
                self.ops.push(FOp::Add { a, b, output: y });
                Ok(())
            }
            "Sigmoid" => {
                // SiLU: Mul(x, Sigmoid(x)).
                let silu = self.consumers.get(out).and_then(|cs| {
                    cs.iter().copied().find(|c| {
                        let m = &self.nodes[*c];
                        m.op_type == "Mul"
                            && m.input.iter().any(|i| i == inp(0))
                            && m.input.iter().any(|i| i == out)
                    })
                });
                match silu {
                    Some(mi) if self.consumers.get(out).is_some_and(|c| c.len() == 1) => {
                        self.consumed.insert(mi);
                        let mul_out = self.nodes[mi].output.first().cloned().unwrap_or_default();
                        self.act(node, inp(0), &mul_out, Activation::Silu)
                    }
                    _ => self.act(node, inp(0), out, Activation::Sigmoid),
                }
            }
            "Relu" => self.act(node, inp(0), out, Activation::Relu),
            "Gelu" => self.act(node, inp(0), out, Activation::Gelu),
            "Div" => self.gelu_pattern(ni),
            "Concat" => {
                let axis = attr_i(node, "axis").unwrap_or(0);
                let (a, b) = (self.tensor(node, inp(0))?, self.tensor(node, inp(1))?);
                let (sa, sb) = (self.tensors[a].shape, self.tensors[b].shape);
                if node.input.len() != 2 || axis != 1 || sa[1..] != sb[1..] {
                    return Err(self.err(node, format!("only two-input channel concat (axis 1) of equal spatial size is supported (axis {axis}, shapes {sa:?}, {sb:?})")));
                }
                let y = self.add_tensor(out, [sa[0] + sb[0], sa[1], sa[2]]);
                self.ops.push(FOp::Concat { a, b, output: y });
                Ok(())
            }
            "Resize" | "Upsample" => {
                let mode = node
                    .attribute
                    .iter()
                    .find(|a| a.name == "mode")
                    .map(|a| String::from_utf8_lossy(&a.s).to_string());
                if mode.as_deref().is_some_and(|m| m != "nearest") {
                    return Err(self.err(
                        node,
                        format!("only nearest mode is supported, got {mode:?}"),
                    ));
                }
                let scales_name = if node.op_type == "Resize" {
                    inp(2)
                } else {
                    inp(1)
                };
                let scales = self
                    .init(scales_name)
                    .map(|s| s.1.clone())
                    .unwrap_or_default();
                let x = self.tensor(node, inp(0))?;
                let [c, h, w] = self.tensors[x].shape;
                let factor = match scales.as_slice() {
                    [1.0, 1.0, a, b] if a == b && *a >= 1.0 && a.fract() == 0.0 => *a as usize,
                    _ => {
                        return Err(self.err(
                            node,
                            format!(
                                "scales must be [1, 1, k, k] with an integer k, got {scales:?}"
                            ),
                        ));
                    }
                };
                let y = self.add_tensor(out, [c, h * factor, w * factor]);
                self.ops.push(FOp::Upsample {
                    input: x,
                    output: y,
                    factor,
                });
                Ok(())
            }
            "InstanceNormalization" => self.group_norm_pattern(ni),
            "GroupNormalization" => {
                let x = self.tensor(node, inp(0))?;
                let shape = self.tensors[x].shape;
                let groups = attr_i(node, "num_groups").unwrap_or(0) as usize;
                let eps = attr_f(node, "epsilon").unwrap_or(1e-5);
                let (scale, bias) = (
                    self.init(inp(1)).map(|v| v.1.clone()),
                    self.init(inp(2)).map(|v| v.1.clone()),
                );
                let (Some(scale), Some(bias)) = (scale, bias) else {
                    return Err(self.err(node, "scale and bias must be initializers".into()));
                };
                let c = shape[0];
                if groups == 0 || !c.is_multiple_of(groups) {
                    return Err(
                        self.err(node, format!("{groups} groups do not divide {c} channels"))
                    );
                }
                let expand = |v: Vec<f32>| {
                    if v.len() == groups {
                        (0..c).map(|i| v[i / (c / groups)]).collect()
                    } else {
                        v
                    }
                };
                let (gamma, beta) = (expand(scale), expand(bias));
                if gamma.len() != c || beta.len() != c {
                    return Err(self.err(node, format!("scale/bias need {c} or {groups} values")));
                }
                let y = self.add_tensor(out, shape);
                self.ops.push(FOp::GroupNorm {
                    input: x,
                    output: y,
                    groups,
                    gamma,
                    beta,
                    eps,
                });
                Ok(())
            }
            "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" | "Identity" => {
                let x = self.tensor(node, inp(0))?;
                self.index.insert(out.to_string(), x);
                Ok(())
            }
            other => Err(self.err(
                node,
                format!("op `{other}` is not supported on the sample path; supported: {SUPPORTED}"),
            )),
        }
    }

    /// GELU as `Mul(Mul(x, Add(Erf(Div(x, sqrt 2)), 1)), 0.5)` (either Mul order).
    fn gelu_pattern(&mut self, ni: usize) -> Result<(), Error> {
        let node = &self.nodes[ni];
        let fail = || {
            self.err(
                node,
                format!("Div is supported only inside the GELU pattern; supported: {SUPPORTED}"),
            )
        };
        let x = node.input.first().cloned().unwrap_or_default();
        let mut chain = vec![];
        let mut cur = node.output.first().cloned().unwrap_or_default();
        for op in ["Erf", "Add", "Mul", "Mul"] {
            let ci = self
                .sole_consumer(&cur)
                .filter(|c| self.nodes[*c].op_type == op)
                .ok_or_else(fail)?;
            chain.push(ci);
            cur = self.nodes[ci].output.first().cloned().unwrap_or_default();
        }
        self.consumed.extend(chain);
        self.act(node, &x, &cur, Activation::Gelu)
    }

    /// GroupNorm as Reshape([1, G, -1]) -> InstanceNormalization -> Reshape -> Mul(gamma) -> Add(beta).
    fn group_norm_pattern(&mut self, ni: usize) -> Result<(), Error> {
        let node = &self.nodes[ni];
        let bad = |what: &str| {
            self.err(node, format!("InstanceNormalization is supported only as GroupNorm (Reshape [1, G, -1] -> InstanceNormalization -> Reshape -> Mul -> Add): {what}"))
        };
        let input = node.input.first().cloned().unwrap_or_default();
        let producer = self
            .nodes
            .iter()
            .find(|n| n.output.contains(&input) && n.op_type == "Reshape")
            .ok_or_else(|| bad("no Reshape before it"))?;
        let groups = self
            .init(producer.input.get(1).map(String::as_str).unwrap_or(""))
            .and_then(|s| s.1.get(1).copied())
            .ok_or_else(|| bad("the Reshape shape is not an initializer"))?
            as usize;
        let x = self.tensor(node, &input)?;
        let shape = self.tensors[x].shape;
        let c = shape[0];
        if groups == 0 || !c.is_multiple_of(groups) {
            return Err(bad(&format!("{groups} groups do not divide {c} channels")));
        }
        let eps = attr_f(node, "epsilon").unwrap_or(1e-5);
        let ones =
            |name: &str, v: f32| self.init(name).is_some_and(|t| t.1.iter().all(|x| *x == v));
        if !ones(node.input.get(1).map(String::as_str).unwrap_or(""), 1.0)
            || !ones(node.input.get(2).map(String::as_str).unwrap_or(""), 0.0)
        {
            return Err(bad("its own scale and bias must be ones and zeros"));
        }
        let out = node.output.first().cloned().unwrap_or_default();
        let back = self
            .sole_consumer(&out)
            .filter(|c| self.nodes[*c].op_type == "Reshape")
            .ok_or_else(|| bad("no Reshape after it"))?;
        let back_out = self.nodes[back].output.first().cloned().unwrap_or_default();
        let mul = self
            .sole_consumer(&back_out)
            .filter(|c| self.nodes[*c].op_type == "Mul")
            .ok_or_else(|| bad("no Mul by gamma"))?;
        let mul_out = self.nodes[mul].output.first().cloned().unwrap_or_default();
        let add = self
            .sole_consumer(&mul_out)
            .filter(|c| self.nodes[*c].op_type == "Add")
            .ok_or_else(|| bad("no Add of beta"))?;
        let param = |n: usize, skip: &str| {
            self.nodes[n]
                .input
                .iter()
                .find(|i| *i != skip)
                .and_then(|i| self.init(i))
                .map(|t| t.1.clone())
        };
        let gamma = param(mul, &back_out)
            .filter(|g| g.len() == c)
            .ok_or_else(|| bad("gamma must be an initializer of one value per channel"))?;
        let beta = param(add, &mul_out)
            .filter(|b| b.len() == c)
            .ok_or_else(|| bad("beta must be an initializer of one value per channel"))?;
        let add_out = self.nodes[add].output.first().cloned().unwrap_or_default();
        self.consumed.extend([back, mul, add]);
        let y = self.add_tensor(&add_out, shape);
        self.ops.push(FOp::GroupNorm {
            input: x,
            output: y,
            groups,
            gamma,
            beta,
            eps,
        });
        Ok(())
    }
}

fn transpose(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; w.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = w[r * cols + c];
        }
    }
    t
}

/// Imports `model` (read from `file`, named in errors).
pub fn import(model: &ModelProto, file: &str, opts: &ImportOptions) -> Result<FloatGraph, Error> {
    let bad = |what: String| Error::Input(format!("{file}: {what}"));
    if model
        .metadata_props
        .iter()
        .any(|p| p.key == crate::onnx::qonnx::META_TIMESTEPS)
    {
        return Err(bad(
            "this is an int8 ONNX written by `edgediff quantize`; quantize and the \
             tract-float engine take the float model"
                .into(),
        ));
    }
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| bad("the model has no graph".into()))?;
    let mut inits: HashMap<String, (Vec<i64>, Vec<f32>)> = HashMap::new();
    for t in &graph.initializer {
        if let Some(v) = decode(t) {
            inits.insert(t.name.clone(), (t.dims.clone(), v));
        }
    }
    for n in &graph.node {
        if n.op_type == "Constant"
            && let Some(t) = n
                .attribute
                .iter()
                .find(|a| a.name == "value")
                .and_then(|a| a.t.as_ref())
            && let (Some(v), Some(o)) = (decode(t), n.output.first())
        {
            inits.insert(o.clone(), (t.dims.clone(), v));
        }
    }
    let inputs: Vec<_> = graph
        .input
        .iter()
        .filter(|i| !inits.contains_key(&i.name))
        .collect();
    let mut x_input = None;
    let mut int_inputs = vec![];
    for i in &inputs {
        let (elem, dims) = super::value_dims(i)
            .ok_or_else(|| bad(format!("input `{}` has no static tensor type", i.name)))?;
        if elem == DataType::Float as i32 {
            if x_input.is_some() {
                return Err(bad(
                    "more than one float input; expected one sample input x".into(),
                ));
            }
            x_input = Some((i.name.clone(), dims));
        } else if elem == DataType::Int64 as i32 || elem == DataType::Int32 as i32 {
            int_inputs.push(i.name.clone());
        } else {
            return Err(bad(format!(
                "input `{}` has element type {elem}; expected float x and int64 timestep / label",
                i.name
            )));
        }
    }
    let (x_name, x_dims) =
        x_input.ok_or_else(|| bad("missing input: no float sample input x".into()))?;
    let sample_shape = per_sample(&x_dims).ok_or_else(|| bad(format!("input `{x_name}` has shape {x_dims:?}; expected static [1, d] or [1, c, h, w] (batch 1)")))?;
    let is_label = |n: &str| {
        let n = n.to_lowercase();
        n.contains("label") || n.contains("class") || n == "y"
    };
    let t_name = int_inputs
        .iter()
        .find(|n| !is_label(n))
        .cloned()
        .ok_or_else(|| bad("missing input: no int64 timestep input".into()))?;
    let l_name = int_inputs.iter().find(|n| is_label(n)).cloned();

    // Dependencies.
    let mut deps: HashMap<String, u8> = HashMap::new();
    deps.insert(x_name.clone(), X);
    deps.insert(t_name.clone(), T);
    if let Some(l) = &l_name {
        deps.insert(l.clone(), L);
    }
    let mut consumers: HashMap<String, Vec<usize>> = HashMap::new();
    for (ni, n) in graph.node.iter().enumerate() {
        let d = n
            .input
            .iter()
            .fold(0u8, |acc, i| acc | deps.get(i).copied().unwrap_or(0));
        for o in &n.output {
            deps.insert(o.clone(), d);
        }
        for i in &n.input {
            consumers.entry(i.clone()).or_default().push(ni);
        }
    }
    // Boundary tensors: read by the sample path, computed from the timestep or label alone.
    let mut boundary: Vec<(String, u8)> = vec![];
    for n in &graph.node {
        let d = n
            .input
            .iter()
            .fold(0u8, |acc, i| acc | deps.get(i).copied().unwrap_or(0));
        if d & X == 0 {
            continue;
        }
        for i in &n.input {
            let di = deps.get(i).copied().unwrap_or(0);
            if di != 0 && di & X == 0 && !boundary.iter().any(|(b, _)| b == i) {
                if di == T | L {
                    return Err(bad(format!(
                        "tensor `{i}` (read by node `{}`) depends on both the timestep and the label; keep the two paths separate until they join the sample path",
                        n.name
                    )));
                }
                boundary.push((i.clone(), di));
            }
        }
    }
    let num_classes = match &l_name {
        None => 0,
        Some(l) => {
            // The class table is the initializer gathered by the label.
            let rows = graph
                .node
                .iter()
                .find(|n| n.op_type == "Gather" && n.input.get(1) == Some(l))
                .and_then(|n| inits.get(n.input.first()?))
                .and_then(|t| t.0.first().copied())
                .ok_or_else(|| bad(format!("label input `{l}` must feed a Gather from an embedding table of classes + 1 rows (the last the null label)")))?;
            u16::try_from(rows - 1).map_err(|_| bad("class table too large".into()))?
        }
    };
    let tables = evaluate_boundary(
        model,
        file,
        &boundary,
        &x_name,
        &x_dims,
        &t_name,
        l_name.as_deref(),
        opts,
        num_classes,
    )?;

    let mut ctx = Ctx {
        file,
        nodes: &graph.node,
        inits,
        consumers,
        consumed: HashSet::new(),
        tensors: vec![],
        index: HashMap::new(),
        ops: vec![],
    };
    let input = ctx.add_tensor(&x_name, sample_shape);
    for ((name, kind), (shape, table)) in boundary.iter().zip(tables) {
        let output = ctx.add_tensor(name, shape);
        ctx.ops.push(if *kind == T {
            FOp::StepEmbed { output, table }
        } else {
            FOp::ClassEmbed { output, table }
        });
    }
    for (ni, n) in graph.node.iter().enumerate() {
        let d = n
            .input
            .iter()
            .fold(0u8, |acc, i| acc | deps.get(i).copied().unwrap_or(0));
        if d & X == 0 || ctx.consumed.contains(&ni) {
            continue;
        }
        ctx.node(ni)?;
    }
    let out_name = graph
        .output
        .first()
        .map(|o| o.name.clone())
        .ok_or_else(|| bad("the graph has no output".into()))?;
    let output = *ctx.index.get(&out_name).ok_or_else(|| {
        bad(format!(
            "output `{out_name}` is not computed from the sample input"
        ))
    })?;
    if ctx.tensors[output].len() != ctx.tensors[input].len() {
        return Err(bad(format!(
            "shape mismatch: output `{out_name}` has {} values, the sample has {}",
            ctx.tensors[output].len(),
            ctx.tensors[input].len()
        )));
    }
    let prediction = model
        .metadata_props
        .iter()
        .find(|p| p.key == crate::train::export::META_PREDICTION)
        .map(|p| match p.value.as_str() {
            "sample" => PredictionType::Sample,
            "v_prediction" => PredictionType::VPrediction,
            _ => PredictionType::Epsilon,
        })
        .unwrap_or(opts.prediction);
    Ok(FloatGraph {
        sample_shape,
        prediction,
        num_classes,
        tensors: ctx.tensors,
        ops: ctx.ops,
        input,
        output,
    })
}

/// A per-sample shape and the rows of a table.
type Table = ([usize; 3], Vec<f32>);
/// A tensor's full shape and values.
type Values = (Vec<usize>, Vec<f32>);

/// Evaluates the timestep-only and label-only tensors with tract: one row per sampling step
/// or per label (`0..=classes`, the last the null label).
#[allow(clippy::too_many_arguments)]
fn evaluate_boundary(
    model: &ModelProto,
    file: &str,
    boundary: &[(String, u8)],
    x_name: &str,
    x_dims: &[i64],
    t_name: &str,
    l_name: Option<&str>,
    opts: &ImportOptions,
    classes: u16,
) -> Result<Vec<Table>, Error> {
    if boundary.is_empty() {
        return Ok(vec![]);
    }
    let te = |e: TractError| {
        Error::Input(format!(
            "{file}: tract could not evaluate the timestep/label subgraph: {e}"
        ))
    };
    let names: Vec<&str> = boundary.iter().map(|(n, _)| n.as_str()).collect();
    let plan = guarded(|| {
        tract_onnx::onnx()
            .model_for_proto_model(model)
            .and_then(|m| m.with_outputs_by_name(&names))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
    })
    .map_err(te)?;
    let graph_inputs: Vec<String> = model
        .graph
        .as_ref()
        .map(|g| g.input.iter().map(|i| i.name.clone()).collect())
        .unwrap_or_default();
    let x_shape: Vec<usize> = x_dims.iter().map(|d| *d as usize).collect();
    let run = |t: i64, label: i64| -> Result<Vec<Values>, Error> {
        let mut ins: TVec<TValue> = tvec![];
        for name in &graph_inputs {
            if name == x_name {
                ins.push(Tensor::zero::<f32>(&x_shape).map_err(te)?.into());
            } else if name == t_name {
                ins.push(tensor1(&[t]).into());
            } else if Some(name.as_str()) == l_name {
                ins.push(tensor1(&[label]).into());
            }
        }
        let outs = guarded(|| plan.run(ins)).map_err(te)?;
        outs.iter()
            .map(|o| {
                let v = o
                    .to_plain_array_view::<f32>()
                    .map_err(te)?
                    .iter()
                    .copied()
                    .collect::<Vec<f32>>();
                Ok((o.shape().to_vec(), v))
            })
            .collect()
    };
    let step_rows = opts
        .timesteps
        .iter()
        .map(|t| run(i64::from(*t), i64::from(classes)))
        .collect::<Result<Vec<_>, _>>()?;
    let class_rows = if l_name.is_some() {
        (0..=i64::from(classes))
            .map(|l| run(0, l))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        vec![]
    };
    let mut tables = Vec::with_capacity(boundary.len());
    for (k, (name, kind)) in boundary.iter().enumerate() {
        let rows = if *kind == T { &step_rows } else { &class_rows };
        let mut table = vec![];
        let mut shape = [0; 3];
        for r in rows {
            let (dims, v) = &r[k];
            shape = per_sample(&dims.iter().map(|d| *d as i64).collect::<Vec<_>>()).ok_or_else(
                || {
                    Error::Input(format!(
                        "{file}: tensor `{name}` has shape {dims:?}, expected batch 1"
                    ))
                },
            )?;
            table.extend_from_slice(v);
        }
        tables.push((shape, table));
    }
    Ok(tables)
}
