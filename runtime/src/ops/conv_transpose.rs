//! ConvTranspose2d, run as the convolution of the stuffed input (see [`ConvSpec::stuffed`]):
//! blobs as [`super::conv`]'s, the weights already flipped to `[out_c, in_c, k_h, k_w]`; record
//! fields in [`crate::pack::layout::conv`] (the stride field holds the stuffing).
//!
//! [`ConvSpec::stuffed`]: crate::kernels::reference::ConvSpec::stuffed

use super::{Check, Reads, Run, conv};
use crate::Result;

#[cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)
)]
pub(super) fn check(c: &Check) -> Result<Reads> {
    let x = c.input(c.o.in0)?;
    let g = conv::geometry(c.o, x.shape, c.out.shape[0], true).ok_or((c.bad)("conv padding"))?;
    if g.up < 2 || g.pad_h >= g.k_h || g.pad_w >= g.k_w || g.out_pad >= g.up {
        return Err((c.bad)(
            "conv transpose: stride at least 2, padding below the kernel, output padding below \
             the stride",
        ));
    }
    conv::check_with(c, &g)
}

pub(super) fn run(r: Run) -> Result<()> {
    conv::run_as(r, true)
}
