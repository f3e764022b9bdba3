//! Channel concat of `in0` and `in1`, each requantized to the output's parameters.

use super::{Check, Reads, Run};
use crate::Result;
use crate::kernels::reference as k;

#[cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)
)]
pub(super) fn check(c: &Check) -> Result<Reads> {
    let (a, b) = (c.input(c.o.in0)?, c.input(c.o.in1)?);
    let out = c.out.shape;
    if a.shape[1..] != out[1..]
        || b.shape[1..] != out[1..]
        || a.shape[0].saturating_add(b.shape[0]) != out[0]
    {
        return Err((c.bad)(
            "concat shapes: channels add up, height and width agree",
        ));
    }
    Ok([Some(c.o.in0), Some(c.o.in1)])
}

pub(super) fn run(r: Run) -> Result<()> {
    let [q0, q1, q_out] = r.q;
    let (first, second) = r.io.out.split_at_mut(r.io.in0.len().min(r.io.out.len()));
    k::requantize_copy(r.io.in0, q0, q_out, first);
    k::requantize_copy(r.io.in1, q1, q_out, second);
    Ok(())
}
