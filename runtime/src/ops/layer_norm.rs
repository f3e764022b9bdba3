//! LayerNorm (or RMSNorm, flag [`FLAG_RMS`]) over the last axis, attr0 = its length `n`, with
//! the exact integer statistics of GroupNorm; blob0 gamma, blob1 beta (`n` f32 each); extra:
//! epsilon (f32 bits). The op reads the tensor as `[len / n, n]`, whatever its storage shape.

use super::{Check, Reads, Run};
use crate::Result;
use crate::kernels::reference::{self as k, GroupNormGeometry};
use crate::pack::layout::op::FLAG_RMS;

/// Longest normalized axis: the int32 sums of the int8 ONNX stay exact.
const MAX_AXIS: usize = 33_000;

#[cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)
)]
pub(super) fn check(c: &Check) -> Result<Reads> {
    let bad = c.bad;
    let x = c.input(c.o.in0)?;
    let [n, ..] = c.attr();
    if x.len() != c.out.len() || n == 0 || n > MAX_AXIS || !x.len().is_multiple_of(n) {
        return Err(bad(
            "layer norm: output = input length, a multiple of the axis length (at most 33,000)",
        ));
    }
    let eps = f32::from_bits(c.o.extra);
    if !(eps > 0.0 && eps.is_finite()) {
        return Err(bad("layer norm epsilon must be finite and positive"));
    }
    (c.blob)(0, n.saturating_mul(4))?;
    (c.blob)(1, n.saturating_mul(4))?;
    Ok([Some(c.o.in0), None])
}

pub(super) fn run(r: Run) -> Result<()> {
    let [n, ..] = r.attr();
    let center = r.o.flags & FLAG_RMS == 0;
    let g = GroupNormGeometry::layer(r.out_t.len(), n, f32::from_bits(r.o.extra), center);
    let [q0, _, q_out] = r.q;
    k::group_norm(
        r.io.in0,
        q0,
        &g,
        r.blob(0, 4 * n)?,
        r.blob(1, 4 * n)?,
        q_out,
        r.io.out,
    );
    Ok(())
}
