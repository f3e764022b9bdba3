//! A [`Denoiser`] wrapper that counts what the network evaluations cost on the board's counter.

use crate::board::Board;
use edgediff_runtime::Denoiser;
use edgediff_runtime::engine::Engine;
use edgediff_runtime::prediction::needs_guidance;

/// The engine (borrowed: it holds the conv kernel's 3 KiB of buffers, which a move would
/// copy into a second stack slot), with the counter readings spent inside it.
pub struct Counting<'x, 'e, 'p, 'b> {
    engine: &'x mut Engine<'p, 'e, { crate::config::OPS }>,
    board: &'b Board,
    counted: u64,
    evaluations: u64,
}

impl<'x, 'e, 'p, 'b> Counting<'x, 'e, 'p, 'b> {
    /// Wraps `engine`, reading `board`'s counter around every call.
    pub fn new(engine: &'x mut Engine<'p, 'e, { crate::config::OPS }>, board: &'b Board) -> Self {
        Self {
            engine,
            board,
            counted: 0,
            evaluations: 0,
        }
    }

    /// Counter units spent in the network so far.
    pub fn counted(&self) -> u64 {
        self.counted
    }

    /// Network evaluations so far: one per sample per call, two with classifier-free guidance.
    pub fn evaluations(&self) -> u64 {
        self.evaluations
    }
}

impl Denoiser for Counting<'_, '_, '_, '_> {
    fn eval(
        &mut self,
        x: &[f32],
        t: u32,
        step: usize,
        labels: &[u16],
        out: &mut [f32],
    ) -> edgediff_runtime::Result<()> {
        let meta = *self.engine.pack().meta();
        let start = self.board.now();
        self.engine.eval(x, t, step, labels, out)?;
        self.counted += self.board.now() - start;
        let batch = x.len() / meta.sample_len().max(1);
        self.evaluations += (0..batch)
            .map(|b| {
                let label = labels.get(b).copied().unwrap_or(meta.num_classes);
                1 + u64::from(needs_guidance(meta.num_classes, label, meta.guidance))
            })
            .sum::<u64>();
        Ok(())
    }
}
