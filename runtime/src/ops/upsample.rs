//! Nearest upsampling by an integer factor (attr0); a copy, so the output keeps the input's
//! quantization.

use super::{Check, Reads, Run};
use crate::Result;
use crate::kernels::reference as k;

#[cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)
)]
pub(super) fn check(c: &Check) -> Result<Reads> {
    let x = c.input(c.o.in0)?;
    let [factor, ..] = c.attr();
    let up = [
        x.shape[0],
        x.shape[1].saturating_mul(factor),
        x.shape[2].saturating_mul(factor),
    ];
    if factor == 0 || c.out.shape != up {
        return Err((c.bad)(
            "upsample output must be [c, h * factor, w * factor]",
        ));
    }
    Ok([Some(c.o.in0), None])
}

pub(super) fn run(r: Run) -> Result<()> {
    let x = r.in0()?;
    let [factor, ..] = r.attr();
    k::upsample_nearest(r.io.in0, x.shape[1], x.shape[2], factor, r.io.out);
    Ok(())
}
