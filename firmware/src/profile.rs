//! One network evaluation op by op: the counter spent in each op, and for conv / linear ops
//! their MACs, so the host can compute instructions per MAC per layer.
//!
//! Prints `op <index> <kind> <macs> MACs <count> <unit>` per op. The print itself is not
//! counted: the counter restarts after it.

use crate::board::Board;
use edgediff_runtime::engine::Engine;
use edgediff_runtime::pack::layout::{OpKind, conv};

/// Runs sampling step 0 once (zero input, label 0) and prints every op's cost.
pub fn ops(
    engine: &mut Engine<'_, '_, { crate::config::OPS }>,
    board: &Board,
) -> edgediff_runtime::Result<()> {
    let pack = *engine.pack();
    engine.input_mut()?.fill(0);
    let mut start = board.now();
    engine.run_observed(0, 0, &mut |i, o, _| {
        let spent = board.now() - start;
        let macs = match (o.kind, pack.tensor(o.in0), pack.tensor(o.out)) {
            (k @ (OpKind::Conv | OpKind::ConvTranspose), Some(x), Some(y)) => {
                conv::decode(o.attr, o.extra, k == OpKind::ConvTranspose)
                    .map_or(0, |s| s.on(x.shape, y.shape[0]).macs())
            }
            _ => 0,
        };
        defmt::println!(
            "op {=u16} {} {=usize} MACs {=u64} {=str}",
            i,
            o.kind,
            macs,
            spent,
            crate::board::COUNTER_UNIT
        );
        start = board.now();
    })
}
