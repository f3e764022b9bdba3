//! Attention's arithmetic on the sample path: MatMul of two activations (`Q Kᵀ`, `A V`), the
//! same written as Einsum, and Softmax over the last axis. Their operands keep the ONNX shapes the exporter wrote; the
//! reshapes and transposes around them are [`super::layout`]'s.

use super::ops::{Ctx, attr_i, attr_s, from_end, in_k, out0};
use crate::error::Error;
use crate::ir::{FOp, Movement};
use edgediff_runtime::kernels::reference::MatMulGeometry;

impl Ctx<'_> {
    /// `[..., m, k] x [..., k, n]` with the same leading (batch, head) axes on both sides.
    pub(super) fn matmul_of_activations(&mut self, ni: usize) -> Result<(), Error> {
        let node = self.node_at(ni);
        let (na, nb) = (in_k(node, 0), in_k(node, 1));
        let (a, b) = (self.tensor(node, na)?, self.tensor(node, nb)?);
        let (Some(da), Some(db)) = (self.dims(na), self.dims(nb)) else {
            return Err(self.err(node, "operand shapes could not be inferred".into()));
        };
        let (ra, rb) = (da.len(), db.len());
        if ra < 2 || rb < 2 {
            return Err(self.err(
                node,
                format!("operands {da:?} x {db:?}: both need at least two axes"),
            ));
        }
        let (m, k, k2, n) = (da[ra - 2], da[ra - 1], db[rb - 2], db[rb - 1]);
        let (batch, batch_b) = (
            da[..ra - 2].iter().product::<usize>(),
            db[..rb - 2].iter().product::<usize>(),
        );
        if k != k2 || batch != batch_b {
            return Err(self.err(
                node,
                format!(
                    "operands {da:?} x {db:?}: need [..., m, k] x [..., k, n] with the same \
                     leading axes (broadcasting one operand is not a device op)"
                ),
            ));
        }
        let y = self.add_view_tensor(out0(node));
        self.ops.push(FOp::MatMul {
            a,
            b,
            output: y,
            geometry: MatMulGeometry { batch, m, k, n },
        });
        Ok(())
    }

    /// Einsum of two activations that is a batched matrix product, as hand-written attention
    /// writes it (`bhnd,bhmd->bhnm` for `Q Kᵀ`, `bhnm,bhmd->bhnd` for `A V`): the same
    /// leading letters on both operands and the output, the output's last two letters `m n`,
    /// the operands' last two `m k` or `k m` and `k n` or `n k`; an operand in the other order
    /// is transposed first.
    pub(super) fn einsum(&mut self, ni: usize) -> Result<(), Error> {
        let node = self.node_at(ni);
        let eq: String = attr_s(node, "equation")
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let bad = || {
            self.err(
                node,
                format!(
                    "equation {eq:?}: only a batched matrix product of two operands is \
                     supported (`...mk,...kn->...mn`, either operand's last two letters in \
                     either order, no ellipsis)"
                ),
            )
        };
        let (lhs, out) = eq.split_once("->").ok_or_else(bad)?;
        let (a, b) = lhs.split_once(',').ok_or_else(bad)?;
        let [a, b, out] = [a, b, out].map(|s| s.chars().collect::<Vec<char>>());
        let r = out.len();
        if r < 2
            || a.len() != r
            || b.len() != r
            || a[..r - 2] != out[..r - 2]
            || b[..r - 2] != out[..r - 2]
            || !out.iter().all(char::is_ascii_lowercase)
        {
            return Err(bad());
        }
        let (m, n) = (out[r - 2], out[r - 1]);
        let (a2, b2) = ([a[r - 2], a[r - 1]], [b[r - 2], b[r - 1]]);
        let k = if a2[0] == m { a2[1] } else { a2[0] };
        let a_t = match a2 {
            x if x == [m, k] => false,
            x if x == [k, m] => true,
            _ => return Err(bad()),
        };
        let b_t = match b2 {
            x if x == [k, n] => false,
            x if x == [n, k] => true,
            _ => return Err(bad()),
        };
        if k == m || k == n || m == n {
            return Err(bad());
        }
        let mut operand = |name: &str, transpose: bool| -> Result<(usize, [usize; 3]), Error> {
            let t = self.tensor(node, name)?;
            let d = self.dims(name).ok_or_else(|| {
                self.err(node, format!("the shape of `{name}` could not be inferred"))
            })?;
            let batch: usize = d[..d.len().saturating_sub(2)].iter().product();
            let (rows, cols) = (d[d.len() - 2], d[d.len() - 1]);
            if !transpose {
                return Ok((t, [batch, rows, cols]));
            }
            let y = self.add_tensor(&format!("{name} (transposed)"), [batch, cols, rows]);
            self.ops.push(FOp::Move {
                input: t,
                output: y,
                how: Movement::Transpose {
                    dims: [1, batch, rows, cols],
                    perm: [0, 1, 3, 2],
                },
            });
            Ok((y, [batch, cols, rows]))
        };
        let (ta, [batch, rm, ka]) = operand(in_k(node, 0), a_t)?;
        let (tb, [batch_b, kb, cn]) = operand(in_k(node, 1), b_t)?;
        if ka != kb || batch != batch_b {
            return Err(self.err(
                node,
                format!(
                    "equation {eq:?}: operands of [{batch}, {rm}, {ka}] and [{batch_b}, {kb}, \
                     {cn}] do not multiply"
                ),
            ));
        }
        let y = self.add_view_tensor(out0(node));
        self.ops.push(FOp::MatMul {
            a: ta,
            b: tb,
            output: y,
            geometry: MatMulGeometry {
                batch,
                m: rm,
                k: ka,
                n: cn,
            },
        });
        Ok(())
    }

    /// Softmax over the last axis.
    pub(super) fn softmax(&mut self, ni: usize) -> Result<(), Error> {
        let node = self.node_at(ni);
        let name = in_k(node, 0);
        let x = self.tensor(node, name)?;
        let dims = self
            .dims(name)
            .ok_or_else(|| self.err(node, "the input shape could not be inferred".into()))?;
        let rank = dims.len() as i64;
        let axis = attr_i(node, "axis").unwrap_or(-1);
        let axis = from_end(axis, dims.len());
        let n = dims.last().copied().unwrap_or(0);
        if axis != rank - 1 || n == 0 {
            return Err(self.err(
                node,
                format!("softmax over axis {axis} of {dims:?}: only the last axis is supported"),
            ));
        }
        let y = self.add_view_tensor(out0(node));
        self.ops.push(FOp::Softmax {
            input: x,
            output: y,
            n,
        });
        Ok(())
    }
}
