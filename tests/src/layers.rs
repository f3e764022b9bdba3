//! Layer-by-layer comparison of the runtime and tract: every op's int8 output, on the same
//! inputs, at every sampling step and label.

use edgediff::ir::{QGraph, QOp};
use edgediff::onnx::qonnx::{self, QModel};
use edgediff_runtime::engine::Engine;
use edgediff_runtime::kernels::reference::quantize;
use edgediff_runtime::pack::Pack;
use tract_onnx::prelude::*;

/// Disagreements of one op over all compared evaluations.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpAgreement {
    /// Values compared.
    pub total: usize,
    /// Values that differ.
    pub differ: usize,
    /// Largest difference in LSB.
    pub worst: i32,
}

/// The op's kind as a word.
pub fn op_name(op: &QOp) -> &'static str {
    op.name()
}

/// Runs `inputs` (sampling step, label, float sample) through the pack on the runtime and
/// through the int8 ONNX of `model` on tract with every tensor exposed, and compares each
/// op's output. The pack must be compiled from `model.graph` (same op order).
pub fn compare_layers(
    model: &QModel,
    pack_bytes: &[u8],
    inputs: &[(usize, u16, Vec<f32>)],
) -> Vec<OpAgreement> {
    let g: &QGraph = &model.graph;
    let steps = g.qparams.len();
    let plans: Vec<_> = (0..steps)
        .map(|s| {
            let mut proto = if steps > 1 {
                qonnx::at_step(model, s)
            } else {
                qonnx::write(g, &model.timesteps)
            };
            qonnx::expose_tensors(&mut proto, g);
            tract_onnx::onnx()
                .model_for_proto_model(&proto)
                .and_then(|m| m.into_optimized())
                .and_then(|m| m.into_runnable())
                .expect("tract loads the int8 ONNX")
        })
        .collect();
    let pack = Pack::parse(pack_bytes).expect("a valid pack");
    assert_eq!(usize::from(pack.meta().op_count), g.ops.len());
    let mut arena = vec![0i8; pack.arena_bytes()];
    let mut engine = Engine::new(pack, &mut arena).expect("arena");
    let x_shape = qonnx::interface_dims(g.tensors[g.input].shape);
    let mut out = vec![OpAgreement::default(); g.ops.len()];
    for (step, label, x) in inputs {
        let (q_in, _) = engine.io_qparams(*step).expect("step in range");
        quantize(x, q_in, engine.input_mut().expect("input"));
        let mut mine: Vec<Vec<i8>> = vec![];
        engine
            .run_observed(*step, *label, &mut |_, _, o| mine.push(o.to_vec()))
            .expect("the runtime runs");
        let mut ins: TVec<TValue> = tvec![
            Tensor::from_shape(&x_shape, x).expect("x").into(),
            tensor1(&[*step as i64]).into(),
        ];
        if g.num_classes > 0 {
            ins.push(tensor1(&[i64::from(*label)]).into());
        }
        let plan = &plans[if steps > 1 { *step } else { 0 }];
        let theirs = plan.run(ins).expect("tract runs");
        for (k, agreement) in out.iter_mut().enumerate() {
            let t = theirs[k + 1]
                .to_plain_array_view::<i8>()
                .expect("int8 outputs");
            for (a, b) in mine[k].iter().zip(t.iter()) {
                let d = (i32::from(*a) - i32::from(*b)).abs();
                agreement.total += 1;
                agreement.differ += usize::from(d != 0);
                agreement.worst = agreement.worst.max(d);
            }
        }
    }
    out
}

/// Records the inputs of every evaluation (step, label, one sample) while forwarding to the
/// runtime engine.
pub struct Recording<'p, 'a> {
    /// The engine evaluated.
    pub engine: Engine<'p, 'a>,
    /// `(step, label, sample)` of every evaluation, guidance passes included.
    pub seen: Vec<(usize, u16, Vec<f32>)>,
}

impl edgediff_runtime::Denoiser for Recording<'_, '_> {
    fn eval(
        &mut self,
        x: &[f32],
        t: u32,
        step: usize,
        labels: &[u16],
        out: &mut [f32],
    ) -> edgediff_runtime::Result<()> {
        let meta = *self.engine.pack().meta();
        let dim = meta.sample_len();
        for (b, xs) in x.chunks(dim).enumerate() {
            let null = meta.num_classes;
            let label = labels.get(b).copied().unwrap_or(null);
            self.seen.push((step, label, xs.to_vec()));
            if label != null {
                self.seen.push((step, null, xs.to_vec())); // the guidance pass
            }
        }
        self.engine.eval(x, t, step, labels, out)
    }
}
