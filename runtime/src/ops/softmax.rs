//! Softmax over the last axis (attr0 entries) in integers; blob0 the exponential table (256
//! little-endian u16, each at most 2^15). See [`crate::kernels::reference::softmax`].

use super::{Check, Reads, Run};
use crate::Result;
use crate::kernels::reference::softmax::{self as k, ONE};

/// Table entry `d` of a 512-byte blob.
fn entry(blob: &[u8], d: usize) -> u16 {
    let b = |i: usize| blob.get(2 * d + i).copied().unwrap_or(0);
    u16::from_le_bytes([b(0), b(1)])
}

#[cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)
)]
pub(super) fn check(c: &Check) -> Result<Reads> {
    let x = c.input(c.o.in0)?;
    let [n, ..] = c.attr();
    if n == 0 || x.len() != c.out.len() || !x.len().is_multiple_of(n) {
        return Err((c.bad)(
            "softmax: output = input length, a multiple of the axis length",
        ));
    }
    let table = (c.blob)(0, 512)?;
    if (0..256).any(|d| entry(table, d) > ONE) {
        return Err((c.bad)("softmax table entries must be at most 2^15"));
    }
    Ok([Some(c.o.in0), None])
}

pub(super) fn run(r: Run) -> Result<()> {
    let blob = r.blob(0, 512)?;
    let table = core::array::from_fn(|d| entry(blob, d));
    let [n, ..] = r.attr();
    k::softmax(r.io.in0, n, &table, r.io.out);
    Ok(())
}
