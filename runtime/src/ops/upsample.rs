//! Nearest upsampling by integer factors: attr0 height, attr1 width (0: the same as the
//! height's); a copy, so the output keeps the input's quantization.

use super::{Check, Reads, Run};
use crate::Result;
use crate::kernels::reference as k;

/// `[height, width]` factors of the record's attrs.
fn factors([fh, fw, ..]: [usize; 4]) -> [usize; 2] {
    [fh, if fw == 0 { fh } else { fw }]
}

#[cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)
)]
pub(super) fn check(c: &Check) -> Result<Reads> {
    let x = c.input(c.o.in0)?;
    let [fh, fw] = factors(c.attr());
    let up = [
        x.shape[0],
        x.shape[1].saturating_mul(fh),
        x.shape[2].saturating_mul(fw),
    ];
    if fh == 0 || c.out.shape != up {
        return Err((c.bad)(
            "upsample output must be [c, h * height factor, w * width factor]",
        ));
    }
    Ok([Some(c.o.in0), None])
}

pub(super) fn run(r: Run) -> Result<()> {
    let x = r.in0()?;
    k::upsample_nearest(
        r.io.in0,
        [x.shape[1], x.shape[2]],
        factors(r.attr()),
        r.io.out,
    );
    Ok(())
}
