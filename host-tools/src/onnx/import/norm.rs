//! LayerNorm and RMSNorm over the last axis: the `LayerNormalization` op (opset 17 and up),
//! and the decompositions exporters and hand-written modules produce:
//!
//! - LayerNorm below opset 17: `ReduceMean -> Sub -> Pow(2) -> ReduceMean -> Add(eps) -> Sqrt
//!   -> Div [-> Mul(gamma)] [-> Add(beta)]`;
//! - RMSNorm (`x * rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w`): `Pow(2) -> ReduceMean
//!   -> Add(eps) -> Sqrt -> Div(1, .) | Reciprocal -> Mul(x, .) [-> Mul(w)]`, and
//!   `Div(x, Sqrt(...))`.

use super::ops::{Ctx, attr_f, attr_i, attr_ints, in_k, out0};
use crate::error::Error;
use crate::ir::FOp;
use tract_onnx::pb::NodeProto;

/// A matched norm: the nodes it covers and what the float op needs.
struct Matched {
    nodes: Vec<usize>,
    eps: f32,
    gamma: Option<Vec<f32>>,
    beta: Option<Vec<f32>>,
    out: String,
}

impl Ctx<'_> {
    /// The consumer of tensor `t` with op type `op` whose inputs satisfy `ok`.
    fn consumer(&self, t: &str, op: &str, ok: impl Fn(&NodeProto) -> bool) -> Option<usize> {
        self.consumers
            .get(t)?
            .iter()
            .copied()
            .find(|c| self.nodes[*c].op_type == op && ok(&self.nodes[*c]))
    }

    /// Whether ReduceMean node `r` averages the last axis of its input, keeping it.
    fn mean_of_last_axis(&self, r: &NodeProto) -> bool {
        let rank = self.dims(in_k(r, 0)).map_or(0, |d| d.len()) as i64;
        let axes = attr_ints(r, "axes").or_else(|| {
            self.init(in_k(r, 1))
                .map(|(_, v)| v.iter().map(|x| *x as i64).collect())
        });
        let last = |a: i64| a == -1 || a == rank - 1;
        attr_i(r, "keepdims").unwrap_or(1) == 1 && axes.is_some_and(|a| a.len() == 1 && last(a[0]))
    }

    /// From the variance `v` (a ReduceMean output) of the values `d`: `Add(eps) -> Sqrt`, then
    /// `Div(d, s)`, or `Div(1, s) | Reciprocal(s)` and `Mul(d, r)`. Returns the nodes, eps and
    /// the normalized tensor.
    fn normalized(&self, v: &str, d: &str) -> Option<(Vec<usize>, f32, String)> {
        let add = self.consumer(v, "Add", |n| {
            n.input.iter().any(|i| self.scalar(i).is_some())
        })?;
        let eps = self.nodes[add].input.iter().find_map(|i| self.scalar(i))? as f32;
        let sqrt = self.consumer(out0(&self.nodes[add]), "Sqrt", |_| true)?;
        let s = out0(&self.nodes[sqrt]);
        let is = |n: &NodeProto, a: &str, b: &str| in_k(n, 0) == a && in_k(n, 1) == b;
        if let Some(div) = self.consumer(s, "Div", |n| is(n, d, s)) {
            return Some((vec![add, sqrt, div], eps, out0(&self.nodes[div]).into()));
        }
        let recip = self.consumer(s, "Reciprocal", |_| true).or_else(|| {
            self.consumer(s, "Div", |n| {
                in_k(n, 1) == s && self.scalar(in_k(n, 0)) == Some(1.0)
            })
        })?;
        let r = out0(&self.nodes[recip]);
        let mul = self.consumer(r, "Mul", |n| is(n, d, r) || is(n, r, d))?;
        Some((
            vec![add, sqrt, recip, mul],
            eps,
            out0(&self.nodes[mul]).into(),
        ))
    }

    /// A constant of `n` values (or one, broadcast) read by `op` node `c` beside `t`.
    fn affine_operand(&self, c: usize, t: &str, n: usize) -> Option<Vec<f32>> {
        let node = &self.nodes[c];
        let other = node.input.iter().find(|i| *i != t)?;
        let (_, v) = self.init(other)?;
        match v.len() {
            1 => Some(vec![v[0]; n]),
            len if len == n => Some(v.clone()),
            _ => None,
        }
    }

    /// The pattern starting at node `ni` over sample tensor `x`, LayerNorm when `center`.
    fn match_norm(&self, ni: usize, x: &str, n: usize, center: bool) -> Option<Matched> {
        let anchor = &self.nodes[ni];
        let (mut nodes, d, var) = if center {
            // ReduceMean(x) -> Sub(x, mean) -> Pow(2) -> ReduceMean.
            if !self.mean_of_last_axis(anchor) {
                return None;
            }
            let mean = out0(anchor);
            let sub = self.consumer(mean, "Sub", |s| in_k(s, 0) == x && in_k(s, 1) == mean)?;
            let d = out0(&self.nodes[sub]);
            let pow = self.consumer(d, "Pow", |p| {
                in_k(p, 0) == d && self.scalar(in_k(p, 1)) == Some(2.0)
            })?;
            let var = self.consumer(out0(&self.nodes[pow]), "ReduceMean", |r| {
                self.mean_of_last_axis(r)
            })?;
            (vec![ni, sub, pow, var], d, var)
        } else {
            // Pow(x, 2) -> ReduceMean.
            let var = self.consumer(out0(anchor), "ReduceMean", |r| self.mean_of_last_axis(r))?;
            (vec![ni, var], x, var)
        };
        let (tail, eps, mut out) = self.normalized(out0(&self.nodes[var]), d)?;
        nodes.extend(tail);
        let mut take = |op: &str| -> Option<Vec<f32>> {
            let c = self.sole_consumer(&out)?;
            if self.nodes[c].op_type != op {
                return None;
            }
            let v = self.affine_operand(c, &out, n)?;
            nodes.push(c);
            out = out0(&self.nodes[c]).into();
            Some(v)
        };
        let gamma = take("Mul");
        let beta = take("Add");
        Some(Matched {
            nodes,
            eps,
            gamma,
            beta,
            out,
        })
    }

    /// If node `ni` starts a LayerNorm or RMSNorm written out as ops, matches it whole.
    pub(super) fn norm_pattern(&mut self, ni: usize) -> Result<bool, Error> {
        let node = self.node_at(ni);
        let x = in_k(node, 0);
        let center = match node.op_type.as_str() {
            "ReduceMean" => true,
            "Pow" if self.scalar(in_k(node, 1)) == Some(2.0) => false,
            _ => return Ok(false),
        };
        let Some(&input) = self.index.get(x) else {
            return Ok(false);
        };
        let Some(n) = self.dims(x).and_then(|d| d.last().copied()) else {
            return Ok(false);
        };
        let Some(m) = self.match_norm(ni, x, n, center) else {
            return Ok(false);
        };
        self.consumed.extend(m.nodes);
        self.push_norm(input, &m.out, n, (m.gamma, m.beta), m.eps, center);
        Ok(true)
    }

    fn push_norm(
        &mut self,
        input: usize,
        out: &str,
        n: usize,
        (gamma, beta): (Option<Vec<f32>>, Option<Vec<f32>>),
        eps: f32,
        center: bool,
    ) {
        let shape = self.tensors[input].shape;
        let output = self.add_tensor(out, shape);
        self.ops.push(FOp::LayerNorm {
            input,
            output,
            n,
            gamma: gamma.unwrap_or_else(|| vec![1.0; n]),
            beta: beta.unwrap_or_else(|| vec![0.0; n]),
            eps,
            center,
        });
    }

    /// The `LayerNormalization` op over the last axis.
    pub(super) fn layer_normalization(&mut self, ni: usize) -> Result<(), Error> {
        let node = self.node_at(ni);
        let x = in_k(node, 0);
        let input = self.tensor(node, x)?;
        let dims = self
            .dims(x)
            .ok_or_else(|| self.err(node, "the input shape could not be inferred".into()))?;
        let rank = dims.len() as i64;
        let axis = attr_i(node, "axis").unwrap_or(-1);
        let n = dims.last().copied().unwrap_or(0);
        if (axis != -1 && axis != rank - 1) || n == 0 {
            return Err(self.err(
                node,
                format!("normalizes from axis {axis} of {dims:?}: only the last axis is supported"),
            ));
        }
        let constant = |k: usize| -> Result<Option<Vec<f32>>, Error> {
            let name = in_k(node, k);
            if name.is_empty() {
                return Ok(None);
            }
            match self.init(name) {
                Some((_, v)) if v.len() == n => Ok(Some(v.clone())),
                _ => Err(self.err(node, format!("`{name}` must be a constant of {n} values"))),
            }
        };
        let (gamma, beta) = (constant(1)?, constant(2)?);
        let eps = attr_f(node, "epsilon").unwrap_or(1e-5);
        self.push_norm(input, out0(node), n, (gamma, beta), eps, true);
        Ok(())
    }
}
