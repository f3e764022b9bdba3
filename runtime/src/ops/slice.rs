//! Slice along one axis (Split, Slice, Gather of one index): the input viewed as
//! `[outer, attr0, extra]`, the output takes `attr2` indices from `attr1`. A copy.

use super::{Check, Reads, Run};
use crate::Result;
use crate::kernels::reference::{self as k, SliceGeometry};

fn geometry(attr: [usize; 4], extra: u32) -> SliceGeometry {
    let [axis, start, len, _] = attr;
    SliceGeometry {
        axis,
        start,
        len,
        inner: extra as usize,
    }
}

#[cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)
)]
pub(super) fn check(c: &Check) -> Result<Reads> {
    let x = c.input(c.o.in0)?;
    let g = geometry(c.attr(), c.o.extra);
    let block = g.axis.saturating_mul(g.inner);
    let outer = x.len().checked_div(block).unwrap_or(0);
    let fits = g.start.checked_add(g.len).is_some_and(|end| end <= g.axis);
    if g.len == 0
        || !fits
        || outer.saturating_mul(block) != x.len()
        || outer.saturating_mul(g.len).saturating_mul(g.inner) != c.out.len()
    {
        return Err((c.bad)(
            "slice: input [outer, axis, inner], output [outer, len, inner], start + len <= axis",
        ));
    }
    Ok([Some(c.o.in0), None])
}

pub(super) fn run(r: Run) -> Result<()> {
    k::slice(r.io.in0, &geometry(r.attr(), r.o.extra), r.io.out);
    Ok(())
}
