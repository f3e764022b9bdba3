//! tract-onnx as a [`Denoiser`], for the float ONNX (timestep input) and the int8 ONNX
//! (sampling-step input).

use crate::error::Error;
use crate::onnx::normalize::Inputs;
use edgediff_runtime::prediction::{guide, needs_guidance};
use edgediff_runtime::{Denoiser, Result};
use std::sync::Arc;
use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;

/// What the model's integer input means.
#[derive(Clone, Debug, PartialEq)]
pub enum TractInput {
    /// The training timestep (float ONNX from the trainer or PyTorch).
    Timestep,
    /// The sampling-step index (int8 ONNX from `edgediff quantize`).
    Step,
}

/// A tract plan evaluating one sample per run.
///
/// An int8 model quantized with per-step activation parameters (`--per-step`) becomes one
/// plan per sampling step, each the int8 ONNX of that step's parameters (see
/// [`crate::onnx::qonnx::at_step`]), so tract checks the device arithmetic at every step.
pub struct TractDenoiser {
    /// One plan, or one per sampling step.
    plans: Vec<Arc<TypedRunnableModel>>,
    dim: usize,
    input: TractInput,
    /// The graph's inputs and what each is fed.
    inputs: Inputs,
    num_classes: u16,
    guidance: f32,
}

/// The message of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

thread_local! {
    static IN_GUARD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread is inside [`guarded`]: a panic hook should stay quiet then, because
/// the panic becomes an ordinary error.
pub fn in_guard() -> bool {
    IN_GUARD.with(|g| g.get())
}

/// Runs `f`, turning a panic inside tract into an error: tract indexes without checks on
/// some malformed models (a Gather index past its table panics in tract-core 0.23.9).
pub fn guarded<T>(f: impl FnOnce() -> TractResult<T>) -> TractResult<T> {
    let outer = IN_GUARD.with(|g| g.replace(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    IN_GUARD.with(|g| g.set(outer));
    r.unwrap_or_else(|p| {
        Err(TractError::msg(format!(
            "tract failed on this model: {}",
            panic_message(p.as_ref()).replace('\n', " ")
        )))
    })
}

fn te(file: &str) -> impl Fn(TractError) -> Error + '_ {
    move |e| Error::Input(format!("{file}: tract: {e}"))
}

impl TractDenoiser {
    /// Loads `model` for `input` semantics; `num_classes` and `guidance` as the pack would.
    pub fn new(
        model: &ModelProto,
        file: &str,
        input: TractInput,
        num_classes: u16,
        guidance: f32,
    ) -> std::result::Result<Self, Error> {
        // A float model gets static shapes and folded constants, as the importer sees it.
        let normalized;
        let model = if input == TractInput::Timestep {
            normalized = crate::onnx::normalize::normalize(model, file)?.model;
            &normalized
        } else {
            model
        };
        let inputs = Inputs::of(model, file)?;
        let plan = |m: &ModelProto| {
            guarded(|| {
                tract_onnx::onnx()
                    .model_for_proto_model(m)
                    .and_then(|m| m.into_optimized())
                    .and_then(|m| m.into_runnable())
            })
            .map_err(te(file))
        };
        let per_step = input == TractInput::Step
            && crate::onnx::metadata::get(model, crate::onnx::metadata::QPARAMS).is_some();
        let plans = if per_step {
            let q = crate::onnx::qonnx::read(model, file)?;
            (0..q.graph.qparams.len())
                .map(|step| plan(&crate::onnx::qonnx::at_step(&q, step)))
                .collect::<std::result::Result<_, _>>()?
        } else {
            vec![plan(model)?]
        };
        let dim = inputs.x.1.iter().product();
        Ok(Self {
            plans,
            dim,
            input,
            inputs,
            num_classes,
            guidance,
        })
    }

    /// One evaluation of one sample.
    pub fn run_one(
        &self,
        x: &[f32],
        t: u32,
        step: usize,
        label: u16,
    ) -> std::result::Result<Vec<f32>, TractError> {
        let time = match self.input {
            TractInput::Timestep => i64::from(t),
            TractInput::Step => step as i64,
        };
        let ins = self.inputs.feed(x, time, label)?;
        let plan = match self.plans.as_slice() {
            [one] => one,
            per_step => per_step
                .get(step)
                .ok_or_else(|| TractError::msg(format!("no plan for sampling step {step}")))?,
        };
        let out = guarded(|| plan.run(ins))?;
        let o = out
            .first()
            .ok_or_else(|| TractError::msg("the model has no output"))?;
        Ok(o.to_plain_array_view::<f32>()?.iter().copied().collect())
    }
}

impl Denoiser for TractDenoiser {
    fn eval(
        &mut self,
        x: &[f32],
        t: u32,
        step: usize,
        labels: &[u16],
        out: &mut [f32],
    ) -> Result<()> {
        let dim = self.dim;
        if x.is_empty() || !x.len().is_multiple_of(dim) || out.len() != x.len() {
            return Err(edgediff_runtime::Error::ShapeMismatch { dim, got: x.len() });
        }
        // tract errors are not runtime errors; report them as a failed evaluation.
        let fail = |_| edgediff_runtime::Error::InvalidConfig {
            field: "tract",
            expected: "a model tract can run",
        };
        let null = self.num_classes;
        for (b, (xs, os)) in x.chunks(dim).zip(out.chunks_mut(dim)).enumerate() {
            let label = labels.get(b).copied().unwrap_or(null);
            let c = self.run_one(xs, t, step, label).map_err(fail)?;
            os.copy_from_slice(&c);
            if needs_guidance(self.num_classes, label, self.guidance) {
                let u = self.run_one(xs, t, step, null).map_err(fail)?;
                for (o, uv) in os.iter_mut().zip(&u) {
                    *o = guide(*o, *uv, self.guidance);
                }
            }
        }
        Ok(())
    }
}
