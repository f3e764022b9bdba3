//! Product of two activations `[b, m, k] x [b, k, n]` (attention's `Q Kᵀ` and `A V`); attr:
//! b, m, k, n.

use super::{Check, Reads, Run};
use crate::Result;
use crate::engine::Kernels;
use crate::kernels::reference::{self as k, MatMulGeometry};
use crate::pack::ACC_LIMIT;

fn geometry([batch, m, k, n]: [usize; 4]) -> MatMulGeometry {
    MatMulGeometry { batch, m, k, n }
}

#[cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)
)]
pub(super) fn check(c: &Check) -> Result<Reads> {
    let (a, b) = (c.input(c.o.in0)?, c.input(c.o.in1)?);
    let g = geometry(c.attr());
    let len = |r: usize, s: usize| g.batch.saturating_mul(r).saturating_mul(s);
    if len(g.m, g.k) != a.len() || len(g.k, g.n) != b.len() || len(g.m, g.n) != c.out.len() {
        return Err((c.bad)(
            "matmul: in0 [b, m, k], in1 [b, k, n] and out [b, m, n] must match attr b, m, k, n",
        ));
    }
    if (g.k as i64).saturating_mul(255 * 255) > ACC_LIMIT {
        return Err((c.bad)(
            "matmul reduces too many values: the int32 accumulator could overflow",
        ));
    }
    Ok([Some(c.o.in0), Some(c.o.in1)])
}

pub(super) fn run(r: Run) -> Result<()> {
    let [qa, qb, qy] = r.q;
    let matmul = match r.kernels {
        Kernels::Reference => k::matmul,
        Kernels::Optimized => crate::kernels::optimized::matmul,
    };
    matmul(
        r.io.in0,
        qa,
        r.io.in1,
        qb,
        &geometry(r.attr()),
        qy,
        r.io.out,
    );
    Ok(())
}
