//! GroupNorm with exact integer statistics; attr0: groups; blob0 gamma, blob1 beta (`c` f32
//! each); extra: epsilon (f32 bits).

use super::{Check, Reads, Run};
use crate::Result;
use crate::kernels::reference::{self as k, GroupNormGeometry};

#[cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)
)]
pub(super) fn check(c: &Check) -> Result<Reads> {
    let bad = c.bad;
    let x = c.input(c.o.in0)?;
    let [groups, ..] = c.attr();
    if x.shape != c.out.shape || groups == 0 || !x.shape[0].is_multiple_of(groups) {
        return Err(bad(
            "group norm: output = input shape, groups divide channels",
        ));
    }
    let eps = f32::from_bits(c.o.extra);
    if !(eps > 0.0 && eps.is_finite()) {
        return Err(bad("group norm epsilon must be finite and positive"));
    }
    (c.blob)(0, x.shape[0].saturating_mul(4))?;
    (c.blob)(1, x.shape[0].saturating_mul(4))?;
    Ok([Some(c.o.in0), None])
}

pub(super) fn run(r: Run) -> Result<()> {
    let c = r.out_t.shape[0];
    let [groups, ..] = r.attr();
    let g = GroupNormGeometry::group(
        c,
        r.out_t.shape[1] * r.out_t.shape[2],
        groups,
        f32::from_bits(r.o.extra),
    );
    let [q0, _, q_out] = r.q;
    k::group_norm(
        r.io.in0,
        q0,
        &g,
        r.blob(0, 4 * c)?,
        r.blob(1, 4 * c)?,
        q_out,
        r.io.out,
    );
    Ok(())
}
