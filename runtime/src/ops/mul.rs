//! Requantizing multiply of two activations; `in1` has the shape of `in0` or `[c, 1, 1]`
//! (broadcast per channel): scale-shift modulation (FiLM, AdaGN) and gating.

use super::{Check, Reads, Run};
use crate::Result;
use crate::kernels::reference as k;

pub(super) fn check(c: &Check) -> Result<Reads> {
    c.elementwise_pair("mul shapes: out = in0, in1 = in0 or [c, 1, 1]")
}

pub(super) fn run(r: Run) -> Result<()> {
    let [q0, q1, q_out] = r.q;
    k::mul(r.io.in0, q0, r.io.in1, q1, q_out, r.io.out);
    Ok(())
}
