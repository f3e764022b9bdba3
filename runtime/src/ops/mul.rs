//! Requantizing multiply of two activations; `in1` has the shape of `in0`, `[c, 1, 1]`
//! (broadcast per channel) or `[1, 1, n]` (repeated over rows of `n`): scale-shift modulation
//! (FiLM, AdaGN, AdaLN) and gating.

use super::{Check, Reads, Run};
use crate::Result;
use crate::kernels::reference as k;

pub(super) fn check(c: &Check) -> Result<Reads> {
    c.elementwise_pair("mul shapes: out = in0, in1 = in0, [c, 1, 1] or [1, 1, n]")
}

pub(super) fn run(r: Run) -> Result<()> {
    let [q0, q1, q_out] = r.q;
    k::mul(
        r.io.in0,
        q0,
        (r.io.in1, q1, r.per_column()),
        q_out,
        r.io.out,
    );
    Ok(())
}
