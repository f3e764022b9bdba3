//! Axis permutation of up to four axes (Transpose; Reshape is the identity permutation): attr
//! the input viewed as `[d0, d1, d2, d3]`, extra the permutation (one byte per output axis).
//! A copy, so the output keeps the input's quantization.

use super::{Check, Reads, Run};
use crate::Result;
use crate::kernels::reference as k;

/// The permutation packed in `extra`: output axis `i` reads input axis `perm[i]`.
pub(crate) fn perm(extra: u32) -> [usize; 4] {
    extra.to_le_bytes().map(usize::from)
}

#[cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)
)]
pub(super) fn check(c: &Check) -> Result<Reads> {
    let x = c.input(c.o.in0)?;
    let dims = c.attr();
    let len = dims.iter().fold(1usize, |a, d| a.saturating_mul(*d));
    if len != x.len() || len != c.out.len() {
        return Err((c.bad)(
            "transpose: the view [d0, d1, d2, d3] must hold the input and the output",
        ));
    }
    let p = perm(c.o.extra);
    if (0..4).any(|axis| !p.contains(&axis)) {
        return Err((c.bad)(
            "transpose: extra must be a permutation of the axes 0..4",
        ));
    }
    Ok([Some(c.o.in0), None])
}

pub(super) fn run(r: Run) -> Result<()> {
    k::transpose(r.io.in0, r.attr(), perm(r.o.extra), r.io.out);
    Ok(())
}
