//! Lookup-table activation: blob0 holds one 256-byte table per quantization row.

use super::{Check, Reads, Run, internal};
use crate::Result;
use crate::kernels::reference as k;

#[cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)
)]
pub(super) fn check(c: &Check) -> Result<Reads> {
    let x = c.input(c.o.in0)?;
    if x.shape != c.out.shape {
        return Err((c.bad)("activation output shape must equal its input"));
    }
    (c.blob)(0, 256 * usize::from(c.meta.qparam_rows))?;
    Ok([Some(c.o.in0), None])
}

pub(super) fn run(r: Run) -> Result<()> {
    let rows = usize::from(r.pack.meta().qparam_rows);
    let row = if rows == 1 { 0 } else { r.step };
    let table = r
        .blob(0, 256 * rows)?
        .get(256 * row..256 * row + 256)
        .and_then(|t| <&[u8; 256]>::try_from(t).ok())
        .ok_or(internal("lookup tables in bounds"))?;
    k::lut(r.io.in0, table, r.io.out);
    Ok(())
}
