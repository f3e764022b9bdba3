//! Max pooling (2-D, and 1-D on `[c, 1, L]`): the largest int8 value under the window, per
//! channel. Record fields as a conv's ([`crate::pack::layout::conv`]); the output keeps the
//! input's quantization (max commutes with the monotonic dequantization).

use super::{Check, Reads, Run, internal};
use crate::Result;
use crate::kernels::reference::{self as k, ConvGeometry};
use crate::pack::layout::conv;

fn geometry(o: &crate::pack::OpRecord, input: [usize; 3]) -> Option<ConvGeometry> {
    conv::decode(o.attr, o.extra, false).map(|s| s.on(input, input[0]))
}

#[cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)
)]
pub(super) fn check(c: &Check) -> Result<Reads> {
    let x = c.input(c.o.in0)?;
    let g = geometry(c.o, x.shape).ok_or((c.bad)("pool padding"))?;
    if g.groups != 1 || g.out_pad != 0 || g.pad_h >= g.k_h || g.pad_w >= g.k_w {
        return Err((c.bad)(
            "max pool: no groups or output padding, padding below the window",
        ));
    }
    if g.out_h() != Some(c.out.shape[1])
        || g.out_w() != Some(c.out.shape[2])
        || c.out.shape[0] != x.shape[0]
    {
        return Err((c.bad)(
            "max pool output shape does not follow from input, window, stride and padding",
        ));
    }
    Ok([Some(c.o.in0), None])
}

pub(super) fn run(r: Run) -> Result<()> {
    let x = r.in0()?;
    let g = geometry(r.o, x.shape).ok_or(internal("a validated pool"))?;
    k::max_pool(r.io.in0, &g, i8::MIN, r.io.out);
    Ok(())
}
