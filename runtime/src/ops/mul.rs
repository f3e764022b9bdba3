//! Requantizing multiply of two activations; `in1` has the shape of `in0` or `[c, 1, 1]`
//! (broadcast per channel): scale-shift modulation (FiLM, AdaGN) and gating.

use super::{Check, Reads, Run};
use crate::Result;
use crate::kernels::reference as k;

#[cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)
)]
pub(super) fn check(c: &Check) -> Result<Reads> {
    let (a, b) = (c.input(c.o.in0)?, c.input(c.o.in1)?);
    let broadcast = b.shape == [a.shape[0], 1, 1];
    if a.shape != c.out.shape || !(b.shape == a.shape || broadcast) {
        return Err((c.bad)("mul shapes: out = in0, in1 = in0 or [c, 1, 1]"));
    }
    Ok([Some(c.o.in0), Some(c.o.in1)])
}

pub(super) fn run(r: Run) -> Result<()> {
    let [q0, q1, q_out] = r.q;
    k::mul(r.io.in0, q0, r.io.in1, q1, q_out, r.io.out);
    Ok(())
}
