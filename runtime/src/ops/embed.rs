//! Embedding tables of the timestep and label paths, and constant tensors: copies the row that
//! the sampling step, the label or both select ([`EmbedIndex`]; row 0 of a constant) from the
//! int8 table at blob0.

use super::{Check, Reads, Run, internal};
use crate::Result;
use crate::pack::layout::EmbedIndex;

#[cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)
)]
pub(super) fn check(c: &Check) -> Result<Reads> {
    let bad = c.bad;
    let index = c.o.kind.embed_index().ok_or(bad("embedding op"))?;
    if matches!(index, EmbedIndex::Class | EmbedIndex::StepClass) && c.meta.num_classes == 0 {
        return Err(bad("class embedding in an unconditional model"));
    }
    let rows = index.rows(usize::from(c.meta.steps), c.meta.num_classes);
    (c.blob)(0, rows.saturating_mul(c.out.len()))?;
    Ok([None, None])
}

pub(super) fn run(r: Run) -> Result<()> {
    let index = r.o.kind.embed_index().ok_or(internal("embedding op"))?;
    let row = index.row(r.step, r.label, r.pack.meta().num_classes);
    let n = r.io.out.len();
    let table = r.blob(0, n.saturating_mul(row.saturating_add(1)))?;
    for (d, s) in r.io.out.iter_mut().zip(table.get(n * row..).unwrap_or(&[])) {
        *d = *s as i8;
    }
    Ok(())
}
