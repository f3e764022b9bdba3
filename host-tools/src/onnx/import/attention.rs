//! Attention's arithmetic on the sample path: MatMul of two activations (`Q Kᵀ`, `A V`) and
//! Softmax over the last axis. Their operands keep the ONNX shapes the exporter wrote; the
//! reshapes and transposes around them are [`super::layout`]'s.

use super::ops::{Ctx, attr_i, from_end, in_k, out0};
use crate::error::Error;
use crate::ir::FOp;
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
