//! Layouts on the sample path: reshapes (views), Transpose, and slices along one axis (Slice,
//! Split, Gather of one index), the exporters' spelling of attention's head split and QKV
//! unbinding.
//!
//! Every tensor is row-major; its `[c, h, w]` storage shape matters only to the ops that read
//! that layout (conv, norms, element-wise with broadcast, concat, resize), which ask for it
//! with [`Ctx::shaped`]. Reshapes are views of the same tensor; movement, matmul and softmax
//! ops carry their own view of their operands (from the ONNX shapes), so their outputs'
//! storage shapes are free until such an op reads them.

use super::ops::{Ctx, attr_i, attr_ints, from_end, in_k, out0, per_sample};
use crate::error::Error;
use crate::ir::{FOp, Movement};
use edgediff_runtime::kernels::reference::SliceGeometry;

/// The transpose of the last two axes of `[rows, cols]`.
pub(super) fn swap_last_two(rows: usize, cols: usize) -> Movement {
    Movement::Transpose {
        dims: [1, 1, rows, cols],
        perm: [0, 1, 3, 2],
    }
}

/// `perm` over `dims` as at most four merged axes (size-1 axes dropped, axes that stay
/// adjacent merged): the view and permutation of a device Transpose. `None`: more than four
/// axes remain; an empty permutation: the transpose moves nothing (a view).
fn reduce(dims: &[usize], perm: &[usize]) -> Option<([usize; 4], [usize; 4])> {
    let kept: Vec<usize> = perm.iter().copied().filter(|a| dims[*a] != 1).collect();
    // Groups of input axes, in output order; a group grows while the next output axis is the
    // next kept input axis.
    let next_kept = |a: usize| (a + 1..dims.len()).find(|b| dims[*b] != 1);
    let mut groups: Vec<Vec<usize>> = vec![];
    for a in kept {
        match groups.last_mut() {
            Some(g) if g.last().and_then(|l| next_kept(*l)) == Some(a) => g.push(a),
            _ => groups.push(vec![a]),
        }
    }
    if groups.len() > 4 {
        return None;
    }
    let mut by_input: Vec<usize> = (0..groups.len()).collect();
    by_input.sort_by_key(|g| groups[*g][0]);
    let n = groups.len();
    let mut view = [1usize; 4];
    let mut perm4 = [0, 1, 2, 3];
    for (pos, g) in by_input.iter().enumerate() {
        view[4 - n + pos] = groups[*g].iter().map(|a| dims[*a]).product();
    }
    for (out_pos, g) in (0..n).enumerate() {
        let in_pos = by_input.iter().position(|x| *x == g)?;
        perm4[4 - n + out_pos] = 4 - n + in_pos;
    }
    Some((view, perm4))
}

impl Ctx<'_> {
    /// The static ONNX shape of tensor `name` (batch axis included).
    pub(super) fn dims(&self, name: &str) -> Option<Vec<usize>> {
        self.shapes.get(name).cloned()
    }

    fn dims_or_err(&self, ni: usize, name: &str) -> Result<Vec<usize>, Error> {
        self.dims(name).ok_or_else(|| {
            self.err(
                self.node_at(ni),
                format!("the shape of `{name}` could not be inferred"),
            )
        })
    }

    /// Registers the output of a movement, matmul or softmax node: its storage shape is
    /// `[c, h, w]` when its ONNX shape is one, else flat, until a reader asks for another.
    pub(super) fn add_view_tensor(&mut self, name: &str) -> usize {
        let dims = self.dims(name).unwrap_or_default();
        let len = dims.iter().product();
        let shape = per_sample(&dims).unwrap_or([len, 1, 1]);
        self.add_tensor(name, shape)
    }

    /// Whether tensor `t`'s storage shape may still change: a movement, matmul or softmax op
    /// (or a step / label table, read by length) wrote it, and only such ops have read it.
    /// Max pooling reads and writes `[c, h, w]` planes, like a conv.
    pub(super) fn is_free(&self, t: usize) -> bool {
        let view_op = |o: &FOp| match o {
            FOp::Move { how, .. } => !matches!(how, Movement::MaxPool(_)),
            o => matches!(o, FOp::MatMul { .. } | FOp::Softmax { .. }),
        };
        let writer = |o: &FOp| view_op(o) || matches!(o, FOp::Embed { .. });
        self.ops.iter().any(|o| o.output() == t && writer(o))
            && self
                .ops
                .iter()
                .all(|o| view_op(o) || !o.inputs().contains(&t))
    }

    /// Tensor `name` read by node `ni` with the `[c, h, w]` storage its ONNX shape implies:
    /// as it is, relabelled (when free), or a copy.
    pub(super) fn shaped(&mut self, ni: usize, name: &str) -> Result<usize, Error> {
        let Some(want) = self.dims(name).as_deref().and_then(per_sample) else {
            return self.tensor(self.node_at(ni), name);
        };
        self.stored_as(ni, name, want)
    }

    /// Tensor `name` read by node `ni` with storage shape `want` (of its length): as it is,
    /// relabelled (when free), or a copy.
    pub(super) fn stored_as(
        &mut self,
        ni: usize,
        name: &str,
        want: [usize; 3],
    ) -> Result<usize, Error> {
        let t = self.tensor(self.node_at(ni), name)?;
        let cur = &self.tensors[t];
        if cur.shape == want || cur.len() != want.iter().product::<usize>() {
            return Ok(t);
        }
        if self.is_free(t) {
            self.tensors[t].shape = want;
            return Ok(t);
        }
        let [c, h, w] = want;
        let copy = self.add_tensor(&format!("{name} ({c}x{h}x{w})"), want);
        self.ops.push(FOp::Move {
            input: t,
            output: copy,
            how: Movement::Transpose {
                dims: [1, c, h, w],
                perm: [0, 1, 2, 3],
            },
        });
        self.index.insert(name.into(), copy);
        Ok(copy)
    }

    /// Reshape, Flatten, Squeeze, Unsqueeze and Identity are views: the output is the input.
    pub(super) fn reshape(&mut self, ni: usize) -> Result<(), Error> {
        let node = self.node_at(ni);
        let x = self.tensor(node, in_k(node, 0))?;
        self.index.insert(out0(node).to_string(), x);
        Ok(())
    }

    pub(super) fn transpose(&mut self, ni: usize) -> Result<(), Error> {
        let node = self.node_at(ni);
        let name = in_k(node, 0);
        let x = self.tensor(node, name)?;
        let dims = self.dims_or_err(ni, name)?;
        let rank = dims.len();
        let perm: Vec<usize> = attr_ints(node, "perm")
            .map(|p| p.iter().map(|a| *a as usize).collect())
            .unwrap_or_else(|| (0..rank).rev().collect());
        let mut sorted = perm.clone();
        sorted.sort_unstable();
        if sorted != (0..rank).collect::<Vec<_>>() {
            return Err(self.err(
                node,
                format!("perm {perm:?} is not a permutation of the {rank} axes of {dims:?}"),
            ));
        }
        let Some((view, p)) = reduce(&dims, &perm) else {
            return Err(self.err(
                node,
                format!(
                    "permuting {dims:?} by {perm:?} moves more than four separate axes (the \
                     device transposes up to four)"
                ),
            ));
        };
        if p == [0, 1, 2, 3] {
            self.index.insert(out0(node).to_string(), x);
            return Ok(());
        }
        let y = self.add_view_tensor(out0(node));
        self.ops.push(FOp::Move {
            input: x,
            output: y,
            how: Movement::Transpose {
                dims: view,
                perm: p,
            },
        });
        Ok(())
    }

    /// Output `output` of node `ni`: indices `start..start + len` of axis `axis` (negative
    /// counts from the end) of its first input.
    fn slice_axis(
        &mut self,
        ni: usize,
        output: &str,
        axis: i64,
        start: usize,
        len: usize,
    ) -> Result<(), Error> {
        let node = self.node_at(ni);
        let name = in_k(node, 0);
        let x = self.tensor(node, name)?;
        let dims = self.dims_or_err(ni, name)?;
        let a = from_end(axis, dims.len());
        let Some(&size) = usize::try_from(a).ok().and_then(|a| dims.get(a)) else {
            return Err(self.err(node, format!("axis {axis} outside the shape {dims:?}")));
        };
        let a = a as usize;
        if len == 0 || start + len > size {
            return Err(self.err(
                node,
                format!(
                    "indices {start}..{} of axis {a} (size {size}) in {dims:?}",
                    start + len
                ),
            ));
        }
        if len == size {
            self.index.insert(output.to_string(), x);
            return Ok(());
        }
        let y = self.add_view_tensor(output);
        self.ops.push(FOp::Move {
            input: x,
            output: y,
            how: Movement::Slice(SliceGeometry {
                axis: size,
                start,
                len,
                inner: dims[a + 1..].iter().product(),
            }),
        });
        Ok(())
    }

    /// Slice with constant starts, ends, axes and unit steps, restricting one axis.
    pub(super) fn slice(&mut self, ni: usize) -> Result<(), Error> {
        let node = self.node_at(ni);
        let dims = self.dims_or_err(ni, in_k(node, 0))?;
        let ints = |k: usize| -> Option<Vec<i64>> {
            let n = in_k(node, k);
            (!n.is_empty())
                .then(|| {
                    self.init(n)
                        .map(|(_, v)| v.iter().map(|x| *x as i64).collect())
                })
                .flatten()
        };
        let (Some(starts), Some(ends)) = (ints(1), ints(2)) else {
            return Err(self.err(node, "starts and ends must be constants".into()));
        };
        let axes = ints(3).unwrap_or_else(|| (0..starts.len() as i64).collect());
        let steps = ints(4).unwrap_or_else(|| vec![1; starts.len()]);
        if steps.iter().any(|s| *s != 1) || axes.len() != starts.len() || ends.len() != starts.len()
        {
            return Err(self.err(
                node,
                format!("steps {steps:?}: only unit steps with one start and end per axis"),
            ));
        }
        let mut cut = vec![];
        for ((axis, s), e) in axes.iter().zip(&starts).zip(&ends) {
            let a = from_end(*axis, dims.len());
            let size = dims.get(a.max(0) as usize).copied().unwrap_or(0) as i64;
            let clamp = |v: i64| {
                if v < 0 {
                    (v + size).max(0)
                } else {
                    v.min(size)
                }
            };
            let (s, e) = (clamp(*s), clamp(*e));
            if (s, e) != (0, size) {
                cut.push((a, s as usize, (e - s).max(0) as usize));
            }
        }
        match cut[..] {
            [] => self.reshape(ni),
            [(axis, start, len)] => self.slice_axis(ni, out0(node), axis, start, len),
            _ => Err(self.err(
                node,
                format!(
                    "slices {} axes of {dims:?}; the device slices one",
                    cut.len()
                ),
            )),
        }
    }

    /// Split along one axis into consecutive parts (`split` sizes, or equal parts).
    pub(super) fn split(&mut self, ni: usize) -> Result<(), Error> {
        let node = self.node_at(ni);
        let dims = self.dims_or_err(ni, in_k(node, 0))?;
        let axis = attr_i(node, "axis").unwrap_or(0);
        let a = from_end(axis, dims.len());
        let size = dims.get(a.max(0) as usize).copied().unwrap_or(0);
        let parts = node.output.len();
        let sizes: Vec<usize> = match (attr_ints(node, "split"), self.init(in_k(node, 1))) {
            (Some(s), _) => s.iter().map(|v| *v as usize).collect(),
            (None, Some((_, v))) if !in_k(node, 1).is_empty() => {
                v.iter().map(|x| *x as usize).collect()
            }
            _ => vec![size.div_ceil(parts.max(1)); parts],
        };
        let mut start = 0;
        for (out, len) in node.output.iter().zip(&sizes) {
            let len = (*len).min(size.saturating_sub(start));
            if !out.is_empty() {
                self.slice_axis(ni, out, a, start, len)?;
            }
            start += len;
        }
        Ok(())
    }

    /// Gather of one constant index along an axis (`qkv[0]`, `unbind`).
    pub(super) fn gather(&mut self, ni: usize) -> Result<(), Error> {
        let node = self.node_at(ni);
        let idx = self.init(in_k(node, 1)).map(|(_, v)| v.clone());
        let dims = self.dims_or_err(ni, in_k(node, 0))?;
        let axis = attr_i(node, "axis").unwrap_or(0);
        let a = from_end(axis, dims.len());
        let size = dims.get(a.max(0) as usize).copied().unwrap_or(0);
        match idx.as_deref() {
            Some([i]) => {
                let i = from_end(*i as i64, size);
                self.slice_axis(ni, out0(node), a, i.max(0) as usize, 1)
            }
            _ => Err(self.err(
                node,
                "only a Gather of one constant index is supported on the sample path (shape \
                 arithmetic tract could not fold, or an embedding of the sample)"
                    .into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::reduce;

    #[test]
    fn merges_and_drops_axes() {
        // [1, 3, 2, 16, 16] with the last two swapped: [6, 16, 16] swapped.
        assert_eq!(
            reduce(&[1, 3, 2, 16, 16], &[0, 1, 2, 4, 3]),
            Some(([1, 6, 16, 16], [0, 1, 3, 2]))
        );
        // Moving only a size-1 axis moves nothing.
        assert_eq!(
            reduce(&[1, 16, 32], &[1, 0, 2]),
            Some(([1, 1, 1, 512], [0, 1, 2, 3]))
        );
        // [1, 16, 3, 2, 16] by (2, 0, 3, 1, 4): axes 2 and 3 stay together, so it is
        // [16, 6, 16] by (1, 0, 2).
        assert_eq!(
            reduce(&[1, 16, 3, 2, 16], &[2, 0, 3, 1, 4]),
            Some(([1, 16, 6, 16], [0, 2, 1, 3]))
        );
        // Five separate axes do not fit.
        assert_eq!(reduce(&[2, 3, 4, 5, 6], &[4, 3, 2, 1, 0]), None);
    }
}
