//! ConvTranspose2d, run as the convolution of the stuffed input (see
//! [`ConvGeometry::stuffed`]): blobs as [`super::conv`]'s, the weights already flipped to
//! `[out_c, in_c, k_h, k_w]`; attrs: kernel h, kernel w, stride (the stuffing), padding of the
//! equivalent conv (`k - 1 - padding`); extra: output padding.

use super::{Check, Reads, Run, conv};
use crate::Result;
use crate::kernels::reference::ConvGeometry;

fn geometry(input: [usize; 3], out_c: usize, attr: [usize; 4], extra: u32) -> ConvGeometry {
    ConvGeometry::stuffed(input, out_c, attr, extra as usize)
}

#[cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)
)]
pub(super) fn check(c: &Check) -> Result<Reads> {
    let x = c.input(c.o.in0)?;
    let g = geometry(x.shape, c.out.shape[0], c.attr(), c.o.extra);
    if g.up < 2 || g.pad >= g.k_h.min(g.k_w) || g.out_pad >= g.up {
        return Err((c.bad)(
            "conv transpose: stride at least 2, padding below the kernel, output padding below \
             the stride",
        ));
    }
    conv::check_with(c, &g)
}

pub(super) fn run(r: Run) -> Result<()> {
    let x = r.in0()?;
    let g = geometry(x.shape, r.out_t.shape[0], r.attr(), r.o.extra);
    conv::run_with(r, &g)
}
