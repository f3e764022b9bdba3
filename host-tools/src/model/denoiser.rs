//! The float network as a [`Denoiser`], with classifier-free guidance like the device engine.

use super::evaluate;
use crate::ir::FloatGraph;
use edgediff_runtime::prediction::{guide, needs_guidance};
use edgediff_runtime::{Denoiser, Result};

/// A callback that sees `(step, every tensor)` of one evaluation.
pub type Observer<'o> = &'o mut dyn FnMut(usize, &[Vec<f32>]);

/// Evaluates a [`FloatGraph`] inside the sampler. `observe` sees every evaluation's tensors
/// (with the step), for calibration.
pub struct FloatDenoiser<'g, 'o> {
    /// The network.
    pub graph: &'g FloatGraph,
    /// Guidance scale for conditional models (1: none).
    pub guidance: f32,
    /// Called with `(step, tensors)` after every evaluation.
    pub observe: Option<Observer<'o>>,
}

impl<'g> FloatDenoiser<'g, '_> {
    /// A denoiser with no observer.
    pub fn new(graph: &'g FloatGraph, guidance: f32) -> Self {
        Self {
            graph,
            guidance,
            observe: None,
        }
    }

    fn eval_one(&mut self, x: &[f32], step: usize, label: usize) -> Vec<Vec<f32>> {
        let vals = evaluate(self.graph, x, step, label);
        if let Some(f) = self.observe.as_mut() {
            f(step, &vals);
        }
        vals
    }
}

impl Denoiser for FloatDenoiser<'_, '_> {
    fn eval(
        &mut self,
        x: &[f32],
        _t: u32,
        step: usize,
        labels: &[u16],
        out: &mut [f32],
    ) -> Result<()> {
        let g = self.graph;
        let dim = g.tensors[g.input].len();
        let null = usize::from(g.num_classes);
        for (b, (xs, os)) in x.chunks(dim).zip(out.chunks_mut(dim)).enumerate() {
            let label = labels.get(b).map_or(null, |l| usize::from(*l));
            let c = self.eval_one(xs, step, label);
            os.copy_from_slice(&c[g.output]);
            if needs_guidance(g.num_classes, label as u16, self.guidance) {
                let u = self.eval_one(xs, step, null);
                for (o, uv) in os.iter_mut().zip(&u[g.output]) {
                    *o = guide(*o, *uv, self.guidance);
                }
            }
        }
        Ok(())
    }
}
