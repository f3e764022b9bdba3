//! Requantizing add; `in1` has the shape of `in0`, `[c, 1, 1]` (broadcast per channel) or
//! `[1, 1, n]` (repeated over rows of `n`).

use super::{Check, Reads, Run};
use crate::Result;
use crate::kernels::reference as k;

pub(super) fn check(c: &Check) -> Result<Reads> {
    c.elementwise_pair("add shapes: out = in0, in1 = in0, [c, 1, 1] or [1, 1, n]")
}

pub(super) fn run(r: Run) -> Result<()> {
    let [q0, q1, q_out] = r.q;
    k::add(
        r.io.in0,
        q0,
        (r.io.in1, q1, r.per_column()),
        q_out,
        r.io.out,
    );
    Ok(())
}
