//! Op matching on the normalized sample path: one small function per ONNX op type
//! (`Ctx::matcher`), plus element-wise regions ([`super::regions`]) tried first.

use super::layout::swap_last_two;
use super::regions::{self, Kind, RegionNode};
use crate::error::Error;
use crate::ir::{Activation, FOp, FTensor};
use edgediff_runtime::kernels::reference::ConvSpec;
use edgediff_runtime::pack::layout::EmbedIndex;
use std::collections::{HashMap, HashSet};
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{GraphProto, NodeProto, TensorProto};

/// The sample-path ops the importer understands.
pub const SUPPORTED: &str = "Gemm, MatMul (+ Add) with constant weights (on a vector or on \
rows of tokens), MatMul or Einsum of two activations (attention), Softmax (last axis), Conv (2-D and 1-D; \
strided, dilated, grouped, depthwise), ConvTranspose (2-D, group 1, square kernel), MaxPool and \
AveragePool (2-D and 1-D), Add and Mul of two tensors (same shape or per channel), Concat \
(channels), Resize / Upsample (nearest, integer factors; 1-D too), GroupNormalization or Reshape-InstanceNormalization-\
Reshape-Mul-Add (GroupNorm), LayerNormalization or its decomposition, RMSNorm written out, \
Transpose (up to four moving axes), Slice / Split / Gather of one \
constant index (one axis), Reshape, Flatten, Squeeze, Unsqueeze, Identity, and any chain of \
element-wise ops of one tensor with scalar constants (Sigmoid, Tanh, Erf, Relu, Gelu, \
LeakyRelu, Elu, HardSigmoid, HardSwish, Mish, Softplus, Clip, Exp, Add, Sub, Mul, Div, Pow, \
...: SiLU, GELU and others become lookup tables)";

/// `[1, f]`, `[1, c, h, w]` and friends as a per-sample `[c, h, w]`; a 1-D signal (or a row of
/// tokens) `[1, c, l]` is `[c, 1, l]`.
pub fn per_sample(dims: &[usize]) -> Option<[usize; 3]> {
    match dims {
        [1, f] | [f] => Some([*f, 1, 1]),
        [1, c, h, w] => Some([*c, *h, *w]),
        [1, c, l] => Some([*c, 1, *l]),
        [] => Some([1, 1, 1]),
        _ => None,
    }
}

/// Decodes a numeric tensor to `f32` (`i64` and `i32` too, for shapes and scales).
fn decode(t: &TensorProto) -> Option<Vec<f32>> {
    let raw = &t.raw_data;
    let chunks = |n: usize| raw.chunks_exact(n);
    match DataType::try_from(t.data_type).ok()? {
        DataType::Float if !raw.is_empty() => Some(
            chunks(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        DataType::Float => Some(t.float_data.clone()),
        DataType::Int64 if !raw.is_empty() => Some(
            chunks(8)
                .map(|c| {
                    i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32
                })
                .collect(),
        ),
        DataType::Int64 => Some(t.int64_data.iter().map(|v| *v as f32).collect()),
        DataType::Int32 if !raw.is_empty() => Some(
            chunks(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32)
                .collect(),
        ),
        DataType::Int32 => Some(t.int32_data.iter().map(|v| *v as f32).collect()),
        _ => None,
    }
}

pub(super) fn attr_i(n: &NodeProto, name: &str) -> Option<i64> {
    n.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}

pub(super) fn attr_ints(n: &NodeProto, name: &str) -> Option<Vec<i64>> {
    n.attribute
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.ints.clone())
}

pub(super) fn attr_f(n: &NodeProto, name: &str) -> Option<f32> {
    n.attribute.iter().find(|a| a.name == name).map(|a| a.f)
}

pub(super) fn attr_s(n: &NodeProto, name: &str) -> Option<String> {
    n.attribute
        .iter()
        .find(|a| a.name == name)
        .map(|a| String::from_utf8_lossy(&a.s).to_string())
}

/// An ONNX axis or index `i` of a dimension of `len`: negative values count from the end.
pub(super) fn from_end(i: i64, len: usize) -> i64 {
    if i < 0 { i + len as i64 } else { i }
}

pub(super) fn out0(n: &NodeProto) -> &str {
    n.output.first().map(String::as_str).unwrap_or("")
}

pub(super) fn in_k(n: &NodeProto, k: usize) -> &str {
    n.input.get(k).map(String::as_str).unwrap_or("")
}

/// An initializer: dims and values.
pub(super) type Init = (Vec<i64>, Vec<f32>);

/// A conv or linear layer as read from its node.
pub(super) struct Dense {
    /// `[out_c, in_c / groups, k_h, k_w]`.
    pub(super) weights: Vec<f32>,
    /// Per output channel, when the node has one (else a following Add may provide it).
    pub(super) bias: Option<Vec<f32>>,
    /// Output channels.
    pub(super) out_c: usize,
    /// Kernel, stride, padding, dilation, groups, stuffing.
    pub(super) spec: ConvSpec,
}

/// Matches the node at an index (and the pattern it starts).
type Matcher<'a> = fn(&mut Ctx<'a>, usize) -> Result<(), Error>;

/// The matcher state: the graph, what has been matched, and the float graph being built.
pub struct Ctx<'a> {
    pub(super) file: &'a str,
    pub(super) nodes: &'a [NodeProto],
    pub(super) outputs: HashSet<String>,
    pub(super) inits: HashMap<String, Init>,
    pub(super) shapes: &'a HashMap<String, Vec<usize>>,
    pub(super) consumers: HashMap<String, Vec<usize>>,
    pub(super) consumed: HashSet<usize>,
    pub(super) tensors: Vec<FTensor>,
    pub(super) index: HashMap<String, usize>,
    pub(super) ops: Vec<FOp>,
}

/// What an op without a matcher usually comes from, for the error.
fn hint(op: &str) -> &'static str {
    match op {
        "ReduceMean" => {
            " (a mean over the last axis is supported inside LayerNorm / RMSNorm written out: \
             ReduceMean-Sub-Pow-ReduceMean-Add-Sqrt-Div or Pow-ReduceMean-Add-Sqrt-Reciprocal-Mul)"
        }
        "Div" | "Sub" => {
            " (of two activations, or with a per-channel constant: not a device op yet; with \
             scalar constants it is part of an element-wise function)"
        }
        "Mul" => " (products with per-channel constants are not a device op yet)",
        "Shape" | "Expand" => {
            " (shape arithmetic on the sample that tract could not fold to a constant)"
        }
        _ => "",
    }
}

impl<'a> Ctx<'a> {
    /// A matcher over a normalized graph with its inferred shapes.
    pub fn new(
        file: &'a str,
        graph: &'a GraphProto,
        shapes: &'a HashMap<String, Vec<usize>>,
    ) -> Self {
        let inits = graph
            .initializer
            .iter()
            .filter_map(|t| Some((t.name.clone(), (t.dims.clone(), decode(t)?))))
            .collect();
        let mut consumers: HashMap<String, Vec<usize>> = HashMap::new();
        for (ni, n) in graph.node.iter().enumerate() {
            for i in &n.input {
                consumers.entry(i.clone()).or_default().push(ni);
            }
        }
        Self {
            file,
            nodes: &graph.node,
            outputs: graph.output.iter().map(|o| o.name.clone()).collect(),
            inits,
            shapes,
            consumers,
            consumed: HashSet::new(),
            tensors: vec![],
            index: HashMap::new(),
            ops: vec![],
        }
    }

    /// Node `ni`, borrowed from the graph (not from the matcher).
    pub(super) fn node_at(&self, ni: usize) -> &'a NodeProto {
        &self.nodes[ni]
    }

    /// An error naming the file, the node and its op type.
    pub(super) fn err(&self, node: &NodeProto, what: String) -> Error {
        Error::Input(format!(
            "{}: node `{}` ({}): {what}",
            self.file, node.name, node.op_type
        ))
    }

    pub(super) fn tensor(&self, node: &NodeProto, name: &str) -> Result<usize, Error> {
        self.index.get(name).copied().ok_or_else(|| {
            self.err(
                node,
                format!("input `{name}` is neither on the sample path nor a timestep/label table"),
            )
        })
    }

    pub(super) fn init(&self, name: &str) -> Option<&Init> {
        self.inits.get(name)
    }

    /// The value of a constant whose elements are all equal, broadcasting to any shape.
    pub(super) fn scalar(&self, name: &str) -> Option<f64> {
        let (dims, v) = self.init(name)?;
        let first = *v.first()?;
        (dims.iter().all(|d| *d == 1) && v.iter().all(|x| *x == first)).then_some(f64::from(first))
    }

    /// Registers a tensor of the float graph.
    pub fn add_tensor(&mut self, name: &str, shape: [usize; 3]) -> usize {
        self.tensors.push(FTensor {
            name: name.into(),
            shape,
        });
        let i = self.tensors.len() - 1;
        self.index.insert(name.into(), i);
        i
    }

    /// Appends an op.
    pub fn push(&mut self, op: FOp) {
        self.ops.push(op);
    }

    /// The tensors, ops and the index of the graph output `out_name`.
    pub fn finish(self, out_name: &str) -> Result<(Vec<FTensor>, Vec<FOp>, usize), Error> {
        let output = *self.index.get(out_name).ok_or_else(|| {
            Error::Input(format!(
                "{}: output `{out_name}` is not computed from the sample input",
                self.file
            ))
        })?;
        Ok((self.tensors, self.ops, output))
    }

    /// The single consumer of `tensor`, if exactly one node reads it.
    pub(super) fn sole_consumer(&self, tensor: &str) -> Option<usize> {
        match self.consumers.get(tensor).map(Vec::as_slice) {
            Some([one]) if !self.outputs.contains(tensor) => Some(*one),
            _ => None,
        }
    }

    /// The matcher of an ONNX op type: one small function each.
    fn matcher(op: &str) -> Option<Matcher<'a>> {
        Some(match op {
            "Gemm" => Self::gemm,
            "MatMul" => Self::matmul,
            "Conv" => Self::conv,
            "ConvTranspose" => Self::conv_transpose,
            "MaxPool" => Self::max_pool,
            "Einsum" => Self::einsum,
            "AveragePool" => Self::average_pool,
            "Add" => Self::add,
            "Mul" => Self::mul,
            "Concat" => Self::concat,
            "Resize" | "Upsample" => Self::resize,
            "InstanceNormalization" => Self::group_norm_pattern,
            "GroupNormalization" => Self::group_normalization,
            "LayerNormalization" => Self::layer_normalization,
            "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" | "Identity" => Self::reshape,
            "Transpose" => Self::transpose,
            "Slice" => Self::slice,
            "Split" => Self::split,
            "Gather" => Self::gather,
            "Softmax" => Self::softmax,
            _ => return None,
        })
    }

    /// Matches node `ni` (and whatever pattern it starts).
    pub fn node(&mut self, ni: usize) -> Result<(), Error> {
        if self.consumed.contains(&ni) || self.norm_pattern(ni)? || self.region(ni)? {
            return Ok(());
        }
        let node = self.node_at(ni);
        match Self::matcher(&node.op_type) {
            Some(m) => m(self, ni),
            None => Err(self.err(
                node,
                format!(
                    "op `{}` is not supported on the sample path{}; supported: {SUPPORTED}",
                    node.op_type,
                    hint(&node.op_type)
                ),
            )),
        }
    }

    fn kind(&self, n: &NodeProto) -> Option<Kind> {
        regions::step_kind(
            n,
            |a| attr_f(n, a),
            |a| attr_s(n, a),
            |k| n.input.get(k).and_then(|i| self.scalar(i)),
        )
    }

    /// Whether operand `name` of an element-wise node may join a region over `x` whose
    /// outputs so far are `produced`.
    fn region_operand(&self, name: &str, x: &str, produced: &HashSet<String>) -> bool {
        name.is_empty() || name == x || produced.contains(name) || self.scalar(name).is_some()
    }

    /// If node `ni` starts an element-wise region over one sample-path tensor, matches the
    /// whole region as activations (one per tensor it hands on) and returns `true`.
    fn region(&mut self, ni: usize) -> Result<bool, Error> {
        let node = self.node_at(ni);
        if self.kind(node).is_none() {
            return Ok(false);
        }
        let vars: HashSet<&String> = node
            .input
            .iter()
            .filter(|i| !i.is_empty() && self.scalar(i).is_none())
            .collect();
        let [x] = vars.into_iter().collect::<Vec<_>>()[..] else {
            return Ok(false);
        };
        if !self.index.contains_key(x) || self.init(x).is_some() {
            return Ok(false);
        }
        let x = x.clone();
        let mut members = vec![ni];
        let mut produced: HashSet<String> = node.output.iter().cloned().collect();
        let mut grew = true;
        while grew {
            grew = false;
            let frontier: Vec<usize> = produced
                .iter()
                .flat_map(|t| self.consumers.get(t).cloned().unwrap_or_default())
                .collect();
            for c in frontier {
                let n = &self.nodes[c];
                if members.contains(&c)
                    || self.consumed.contains(&c)
                    || self.kind(n).is_none()
                    || !n
                        .input
                        .iter()
                        .all(|i| self.region_operand(i, &x, &produced))
                {
                    continue;
                }
                members.push(c);
                produced.extend(n.output.iter().cloned());
                grew = true;
            }
        }
        members.sort_unstable();
        let rnodes: Vec<RegionNode> = members
            .iter()
            .map(|m| {
                let n = &self.nodes[*m];
                let kind = self
                    .kind(n)
                    .ok_or_else(|| self.err(n, "internal: region".into()))?;
                let inputs = match kind {
                    Kind::Clip(..) => n.input.iter().take(1).cloned().collect(),
                    _ => n.input.clone(),
                };
                Ok(RegionNode {
                    kind,
                    inputs,
                    output: out0(n).to_string(),
                })
            })
            .collect::<Result<_, Error>>()?;
        let inside: HashSet<usize> = members.iter().copied().collect();
        let escaping = regions::escaping(&rnodes, |t| {
            self.outputs.contains(t)
                || self
                    .consumers
                    .get(t)
                    .is_some_and(|cs| cs.iter().any(|c| !inside.contains(c)))
        });
        let input = self.tensor(node, &x)?;
        let shape = self.tensors[input].shape;
        // A ReLU folds into the conv before it when it is all that reads the conv's output.
        let only_here = escaping.len() == 1
            && !self.outputs.contains(&x)
            && self
                .consumers
                .get(&x)
                .is_some_and(|cs| cs.iter().all(|c| inside.contains(c)));
        for e in escaping {
            let expr = regions::expr_of(&e, &x, &rnodes, &|n| self.scalar(n))
                .ok_or_else(|| self.err(node, format!("could not read `{e}` as a function")))?;
            let act = Activation::of(expr);
            if act == Activation::Relu && only_here && self.fuse_relu(input) {
                self.index.insert(e, input);
                continue;
            }
            let output = self.add_tensor(&e, shape);
            self.ops.push(FOp::Act { input, output, act });
        }
        self.consumed.extend(members);
        Ok(true)
    }

    /// Fuses a ReLU into the conv that writes `tensor`, if the last op is that conv.
    fn fuse_relu(&mut self, tensor: usize) -> bool {
        match self.ops.last_mut() {
            Some(FOp::Conv { output, relu, .. }) if *output == tensor && !*relu => {
                *relu = true;
                true
            }
            _ => false,
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
        let res = (b.clone(), out0(add).to_string());
        self.consumed.insert(ci);
        Some(res)
    }

    /// A conv or linear layer of node `ni` reading tensor `x`; the output shape follows from
    /// the runtime's own [`ConvSpec::on`]. Returns the output tensor (named after the node's
    /// output, or the Add that supplies its bias).
    pub(super) fn dense(&mut self, ni: usize, x: usize, d: Dense) -> Result<usize, Error> {
        let node = self.node_at(ni);
        let [k_h, k_w] = d.spec.kernel;
        let g = d.spec.on(self.tensors[x].shape, d.out_c);
        let in_c = d.weights.len() / (d.out_c * k_h * k_w).max(1) * d.spec.groups;
        if g.in_c != in_c || g.group_in() == 0 {
            return Err(self.err(
                node,
                format!(
                    "weight expects {in_c} input channels in {} groups ({} output channels), \
                     the input has {}",
                    d.spec.groups, d.out_c, g.in_c
                ),
            ));
        }
        let (Some(oh), Some(ow)) = (g.out_h(), g.out_w()) else {
            return Err(self.err(
                node,
                format!(
                    "kernel [{k_h}, {k_w}] (dilation {}) larger than the padded input [{}, {}] \
                     (pads {:?}), or stride 0",
                    d.spec.dilation, g.in_h, g.in_w, d.spec.pad
                ),
            ));
        };
        let out = out0(node).to_string();
        let (bias, out) = match d.bias {
            Some(b) => (b, out),
            None => self
                .fold_bias(&out, d.out_c)
                .unwrap_or((vec![0.0; d.out_c], out)),
        };
        let y = self.add_tensor(&out, [d.out_c, oh, ow]);
        self.ops.push(FOp::Conv {
            name: node.name.clone(),
            input: x,
            output: y,
            weights: d.weights,
            bias,
            spec: d.spec,
            relu: false,
        });
        Ok(y)
    }

    fn gemm(&mut self, ni: usize) -> Result<(), Error> {
        let node = self.node_at(ni);
        let (dims, w) = self
            .init(in_k(node, 1))
            .cloned()
            .ok_or_else(|| self.err(node, "weight B must be a constant".into()))?;
        if attr_f(node, "alpha").is_some_and(|a| a != 1.0)
            || attr_f(node, "beta").is_some_and(|b| b != 1.0)
            || attr_i(node, "transA").unwrap_or(0) != 0
        {
            return Err(self.err(
                node,
                "only alpha = beta = 1 and transA = 0 are supported".into(),
            ));
        }
        let [d0, d1] = dims[..] else {
            return Err(self.err(node, format!("weight B must be 2-D, got shape {dims:?}")));
        };
        let (d0, d1) = (d0.max(0) as usize, d1.max(0) as usize);
        let (n, k, w) = if attr_i(node, "transB").unwrap_or(0) == 1 {
            (d0, d1, w)
        } else {
            (d1, d0, transpose(&w, d0, d1))
        };
        let bias = match node.input.get(2) {
            Some(c) if !c.is_empty() => Some(
                self.init(c)
                    .map(|b| b.1.clone())
                    .map(|b| if b.len() == 1 { vec![b[0]; n] } else { b })
                    .filter(|b| b.len() == n)
                    .ok_or_else(|| {
                        self.err(node, format!("bias C must be a constant of {n} values"))
                    })?,
            ),
            _ => None,
        };
        self.linear(ni, w, n, k, bias)
    }

    fn matmul(&mut self, ni: usize) -> Result<(), Error> {
        let node = self.node_at(ni);
        let Some((dims, w)) = self.init(in_k(node, 1)).cloned() else {
            return self.matmul_of_activations(ni);
        };
        let [k, n] = dims[..] else {
            return Err(self.err(node, format!("weight must be 2-D, got shape {dims:?}")));
        };
        let (k, n) = (k.max(0) as usize, n.max(0) as usize);
        self.linear(ni, transpose(&w, k, n), n, k, None)
    }

    /// A linear layer `out_f x in_f` on the last axis of the node's first input: on a vector,
    /// a 1x1 conv; on `rows x in_f` (tokens, as attention's projections), the same conv on the
    /// transposed rows, between two transposes.
    fn linear(
        &mut self,
        ni: usize,
        w: Vec<f32>,
        out_f: usize,
        in_f: usize,
        bias: Option<Vec<f32>>,
    ) -> Result<(), Error> {
        let node = self.node_at(ni);
        let name = in_k(node, 0);
        let len = self.tensors[self.tensor(node, name)?].len();
        let dense = |bias| Dense {
            weights: w,
            bias,
            out_c: out_f,
            spec: ConvSpec::new([1, 1], 1, 0),
        };
        if len == in_f {
            let x = self.stored_as(ni, name, [in_f, 1, 1])?;
            return self.dense(ni, x, dense(bias)).map(|_| ());
        }
        let last = self.dims(name).and_then(|d| d.last().copied());
        if in_f == 0 || !len.is_multiple_of(in_f) || last != Some(in_f) {
            return Err(self.err(
                node,
                format!(
                    "expects {in_f} input features on the last axis, the input has {len} values \
                     (shape {:?})",
                    self.dims(name)
                ),
            ));
        }
        let rows = len / in_f;
        let x = self.tensor(node, name)?;
        let cols = self.add_tensor(&format!("{name} (transposed)"), [in_f, rows, 1]);
        self.ops.push(FOp::Move {
            input: x,
            output: cols,
            how: swap_last_two(rows, in_f),
        });
        let y = self.dense(ni, cols, dense(bias))?;
        let out = self.tensors[y].name.clone();
        self.tensors[y].name = format!("{out} (transposed)");
        let back = self.add_view_tensor(&out);
        self.ops.push(FOp::Move {
            input: y,
            output: back,
            how: swap_last_two(out_f, rows),
        });
        Ok(())
    }

    /// Conv2d, and Conv1d as a `1 x k` conv over the signal stored as `[c, 1, L]`: any
    /// stride, symmetric padding per axis, dilation and groups (the same on both axes).
    fn conv(&mut self, ni: usize) -> Result<(), Error> {
        let node = self.node_at(ni);
        let (dims, w) = self
            .init(in_k(node, 1))
            .cloned()
            .ok_or_else(|| self.err(node, "weight must be a constant".into()))?;
        let (oc, kh, kw) = match dims[..] {
            [oc, _, kh, kw] => (oc, kh, kw),
            [oc, _, k] => (oc, 1, k),
            _ => {
                return Err(self.err(
                    node,
                    format!("only 1-D and 2-D convs are supported (weight shape {dims:?})"),
                ));
            }
        };
        let group = attr_i(node, "group").unwrap_or(1);
        if !(1..=256).contains(&group) || oc <= 0 {
            return Err(self.err(
                node,
                format!("group {group}, weight {dims:?}: need group in 1..=256, output channels"),
            ));
        }
        let spec = ConvSpec {
            groups: group as usize,
            ..self.window(node, dims.len() - 2, [kh, kw])?
        };
        let bias = match node.input.get(2) {
            Some(b) if !b.is_empty() => Some(
                self.init(b)
                    .map(|v| v.1.clone())
                    .filter(|v| v.len() == oc as usize)
                    .ok_or_else(|| {
                        self.err(node, format!("bias must be a constant of {oc} values"))
                    })?,
            ),
            _ => None,
        };
        let x = self.shaped(ni, in_k(node, 0))?;
        self.dense(
            ni,
            x,
            Dense {
                weights: w,
                bias,
                out_c: oc as usize,
                spec,
            },
        )
        .map(|_| ())
    }

    /// ConvTranspose2d (group 1, square kernel, equal strides, pads and output padding on
    /// both axes), as the conv of the stuffed input with the flipped kernel.
    fn conv_transpose(&mut self, ni: usize) -> Result<(), Error> {
        let node = self.node_at(ni);
        let (dims, w) = self
            .init(in_k(node, 1))
            .cloned()
            .ok_or_else(|| self.err(node, "weight must be a constant".into()))?;
        let [ic, oc, kh, kw] = dims[..]
            .iter()
            .map(|d| (*d).max(0) as usize)
            .collect::<Vec<_>>()[..]
        else {
            return Err(self.err(
                node,
                format!("only 2-D transposed convs are supported (weight shape {dims:?})"),
            ));
        };
        let all = |a: &str, default: i64, n: usize| attr_ints(node, a).unwrap_or(vec![default; n]);
        let (strides, pads, out_pads) = (
            all("strides", 1, 2),
            all("pads", 0, 4),
            all("output_padding", 0, 2),
        );
        let group = attr_i(node, "group").unwrap_or(1);
        let dilations = all("dilations", 1, 2);
        let equal = |v: &[i64]| v.iter().all(|x| Some(x) == v.first());
        let (s, p, op) = (strides[0], pads[0], out_pads[0]);
        let k = kh as i64;
        if group != 1
            || dilations.iter().any(|d| *d != 1)
            || attr_ints(node, "output_shape").is_some()
            || attr_s(node, "auto_pad").is_some_and(|p| p != "NOTSET" && !p.is_empty())
            || kh != kw
            || kh == 0
            || ![&strides[..], &pads[..], &out_pads[..]]
                .iter()
                .all(|v| equal(v))
            || !(1..=255).contains(&s)
            || !(0..k).contains(&p)
            || !(0..s.max(1)).contains(&op)
        {
            return Err(self.err(
                node,
                format!(
                    "kernel {dims:?}, strides {strides:?}, pads {pads:?}, output_padding \
                     {out_pads:?}, group {group}, dilations {dilations:?}: need group 1, a square \
                     kernel, equal strides (1..=255), pads (below the kernel) and output padding \
                     (below the stride) on both axes, no output_shape or auto_pad"
                ),
            ));
        }
        // w[i, o, y, x] -> flipped[o, i, k - 1 - y, k - 1 - x].
        let mut flipped = vec![0.0; w.len()];
        for i in 0..ic {
            for o in 0..oc {
                for y in 0..kh {
                    for x in 0..kw {
                        flipped[((o * ic + i) * kh + (kh - 1 - y)) * kw + (kw - 1 - x)] =
                            w[((i * oc + o) * kh + y) * kw + x];
                    }
                }
            }
        }
        let bias = match node.input.get(2) {
            Some(b) if !b.is_empty() => Some(
                self.init(b)
                    .map(|v| v.1.clone())
                    .filter(|v| v.len() == oc)
                    .ok_or_else(|| {
                        self.err(node, format!("bias must be a constant of {oc} values"))
                    })?,
            ),
            _ => None,
        };
        let x = self.shaped(ni, in_k(node, 0))?;
        self.dense(
            ni,
            x,
            Dense {
                weights: flipped,
                bias,
                out_c: oc,
                spec: ConvSpec::stuffed([kh, kw], s as usize, (k - 1 - p) as usize, op as usize),
            },
        )
        .map(|_| ())
    }

    fn add(&mut self, ni: usize) -> Result<(), Error> {
        self.binary(ni, |a, b, output| FOp::Add { a, b, output })
    }

    /// A product of two activations (scale-shift modulation, gating); products with
    /// constants are element-wise regions.
    fn mul(&mut self, ni: usize) -> Result<(), Error> {
        self.binary(ni, |a, b, output| FOp::Mul { a, b, output })
    }

    /// A constant tensor read as an operand (a learned position embedding): a one-row table
    /// the device copies ([`EmbedIndex::Const`]), registered on first use.
    fn constant_operand(&mut self, name: &str) {
        if self.index.contains_key(name) || self.scalar(name).is_some() {
            return;
        }
        let Some((dims, v)) = self.init(name).cloned() else {
            return;
        };
        let dims: Vec<usize> = dims.iter().map(|d| (*d).max(0) as usize).collect();
        let shape = per_sample(&dims).unwrap_or([v.len(), 1, 1]);
        let output = self.add_tensor(name, shape);
        self.ops.push(FOp::Embed {
            output,
            table: v,
            by: EmbedIndex::Const,
        });
    }

    /// An element-wise op of two tensors, the second of the same shape or per channel.
    fn binary(&mut self, ni: usize, op: impl Fn(usize, usize, usize) -> FOp) -> Result<(), Error> {
        let node = self.node_at(ni);
        let (na, nb) = (in_k(node, 0), in_k(node, 1));
        self.constant_operand(na);
        self.constant_operand(nb);
        // A vector over the last axis of a token matrix (`[N, D] * [1, D]`, AdaLN modulation):
        // the vector is stored as `[1, 1, D]` and repeats over the rows.
        let row_vector = |v: &str, m: &str| -> Option<usize> {
            let (dv, dm) = (self.dims(v)?, self.dims(m)?);
            let n = *dv.last()?;
            let vector = dv.iter().rev().skip(1).all(|d| *d == 1);
            let rows: usize = dm.iter().rev().skip(1).product();
            (vector && n > 1 && dm.last() == Some(&n) && rows > 1).then_some(n)
        };
        if let Some((m, v, n)) = row_vector(nb, na)
            .map(|n| (na, nb, n))
            .or_else(|| row_vector(na, nb).map(|n| (nb, na, n)))
        {
            let m = self.tensor(node, m)?;
            let v = self.stored_as(ni, v, [1, 1, n])?;
            let y = self.add_tensor(out0(node), self.tensors[m].shape);
            self.ops.push(op(m, v, y));
            return Ok(());
        }
        let (a, b) = (self.shaped(ni, na)?, self.shaped(ni, nb)?);
        let (sa, sb) = (self.tensors[a].shape, self.tensors[b].shape);
        let (a, b) = if sa == sb || sb == [sa[0], 1, 1] {
            (a, b)
        } else if sa == [sb[0], 1, 1] {
            (b, a)
        } else {
            return Err(self.err(
                node,
                format!(
                    "shape mismatch: {sa:?} + {sb:?} (same shapes, a per-channel [c, 1, 1] \
                     operand, or a vector over the last axis)"
                ),
            ));
        };
        let shape = self.tensors[a].shape;
        let y = self.add_tensor(out0(node), shape);
        self.ops.push(op(a, b, y));
        Ok(())
    }

    fn concat(&mut self, ni: usize) -> Result<(), Error> {
        let node = self.node_at(ni);
        let rank = self.shapes.get(out0(node)).map_or(4, Vec::len) as i64;
        let axis = attr_i(node, "axis").unwrap_or(0);
        let axis = from_end(axis, rank as usize);
        if node.input.len() != 2 {
            return Err(self.err(
                node,
                format!(
                    "only two-input concat is supported, got {}",
                    node.input.len()
                ),
            ));
        }
        let (a, b) = (
            self.shaped(ni, in_k(node, 0))?,
            self.shaped(ni, in_k(node, 1))?,
        );
        let (sa, sb) = (self.tensors[a].shape, self.tensors[b].shape);
        if axis != 1 || sa[1..] != sb[1..] {
            return Err(self.err(
                node,
                format!(
                    "only channel concat (axis 1) of equal spatial size is supported (axis \
                     {axis}, shapes {sa:?}, {sb:?})"
                ),
            ));
        }
        let y = self.add_tensor(out0(node), [sa[0] + sb[0], sa[1], sa[2]]);
        self.ops.push(FOp::Concat { a, b, output: y });
        Ok(())
    }

    fn resize(&mut self, ni: usize) -> Result<(), Error> {
        let node = self.node_at(ni);
        let mode = attr_s(node, "mode");
        if mode.as_deref().is_some_and(|m| m != "nearest") {
            return Err(self.err(
                node,
                format!("only nearest mode is supported, got {mode:?}"),
            ));
        }
        let ct = attr_s(node, "coordinate_transformation_mode");
        if ct
            .as_deref()
            .is_some_and(|c| c == "align_corners" || c == "tf_crop_and_resize")
        {
            return Err(self.err(
                node,
                format!("coordinate_transformation_mode {ct:?} is not supported"),
            ));
        }
        let x = self.shaped(ni, in_k(node, 0))?;
        let [c, h, w] = self.tensors[x].shape;
        let out_shape = self
            .shapes
            .get(out0(node))
            .and_then(|d| per_sample(d))
            .ok_or_else(|| self.err(node, "output shape could not be inferred".into()))?;
        let factor = [out_shape[1] / h.max(1), out_shape[2] / w.max(1)];
        if out_shape[0] != c
            || factor.contains(&0)
            || out_shape[1] != h * factor[0]
            || out_shape[2] != w * factor[1]
        {
            return Err(self.err(
                node,
                format!(
                    "[{c}, {h}, {w}] -> {out_shape:?}: only integer upscaling of height and \
                     width is supported"
                ),
            ));
        }
        let y = self.add_tensor(out0(node), out_shape);
        self.ops.push(FOp::Upsample {
            input: x,
            output: y,
            factor,
        });
        Ok(())
    }

    fn group_normalization(&mut self, ni: usize) -> Result<(), Error> {
        let node = self.node_at(ni);
        let x = self.shaped(ni, in_k(node, 0))?;
        let shape = self.tensors[x].shape;
        let groups = attr_i(node, "num_groups").unwrap_or(0);
        let eps = attr_f(node, "epsilon").unwrap_or(1e-5);
        let (scale, bias) = (
            self.init(in_k(node, 1)).map(|v| v.1.clone()),
            self.init(in_k(node, 2)).map(|v| v.1.clone()),
        );
        let (Some(scale), Some(bias)) = (scale, bias) else {
            return Err(self.err(node, "scale and bias must be constants".into()));
        };
        let c = shape[0];
        let groups = usize::try_from(groups).unwrap_or(0);
        if groups == 0 || !c.is_multiple_of(groups) {
            return Err(self.err(node, format!("{groups} groups do not divide {c} channels")));
        }
        // Opset 18 gives one scale per group, opset 21 one per channel.
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
        let y = self.add_tensor(out0(node), shape);
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

    /// GroupNorm as `Reshape([1, G, -1]) -> InstanceNormalization -> Reshape [-> Mul(gamma)
    /// -> Add(beta)]`, as both exporters write it below opset 21.
    fn group_norm_pattern(&mut self, ni: usize) -> Result<(), Error> {
        let node = self.node_at(ni);
        let bad = |what: &str| {
            self.err(
                node,
                format!(
                    "InstanceNormalization is supported only as GroupNorm (Reshape [1, G, -1] -> \
                     InstanceNormalization -> Reshape -> Mul -> Add): {what}"
                ),
            )
        };
        let input = in_k(node, 0).to_string();
        let groups = self
            .shapes
            .get(&input)
            .and_then(|d| d.get(1).copied())
            .ok_or_else(|| bad("the grouped shape is unknown"))?;
        let x = self.tensor(node, &input)?;
        let shape = self.tensors[x].shape;
        let c = shape[0];
        if groups == 0 || !c.is_multiple_of(groups) {
            return Err(bad(&format!("{groups} groups do not divide {c} channels")));
        }
        let eps = attr_f(node, "epsilon").unwrap_or(1e-5);
        let all = |name: &str, v: f32| self.init(name).is_some_and(|t| t.1.iter().all(|x| *x == v));
        if !all(in_k(node, 1), 1.0) || !all(in_k(node, 2), 0.0) {
            return Err(bad("its own scale and bias must be ones and zeros"));
        }
        let back = self
            .sole_consumer(out0(node))
            .filter(|c| self.nodes[*c].op_type == "Reshape")
            .ok_or_else(|| bad("no Reshape after it"))?;
        let mut consumed = vec![back];
        let mut out = out0(&self.nodes[back]).to_string();
        // The affine part: Mul by a per-channel gamma, then Add of beta (absent when the
        // GroupNorm has affine=False).
        let mut affine = |op: &str, default: f32| -> Vec<f32> {
            let found = self.sole_consumer(&out).and_then(|m| {
                let n = &self.nodes[m];
                let other = n.input.iter().find(|i| **i != out)?;
                let v = self.init(other)?.1.clone();
                (n.op_type == op && v.len() == c).then(|| (m, v, out0(n).to_string()))
            });
            match found {
                Some((m, v, o)) => {
                    consumed.push(m);
                    out = o;
                    v
                }
                None => vec![default; c],
            }
        };
        let gamma = affine("Mul", 1.0);
        let beta = affine("Add", 0.0);
        self.consumed.extend(consumed);
        let y = self.add_tensor(&out, shape);
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
            if let (Some(d), Some(s)) = (t.get_mut(c * rows + r), w.get(r * cols + c)) {
                *d = *s;
            }
        }
    }
    t
}
