//! The int8 engine: runs a model pack's graph over a caller-provided arena, as a [`Denoiser`].
//!
//! Weights and tables are read in place from the pack; the arena holds only activations, at
//! the offsets the host's planner chose. [`Engine::new`] checks the arena against the pack's
//! recorded requirement, so a too-small buffer is an error before anything runs.

use crate::kernels::optimized::ConvScratch;
use crate::kernels::quant::QParams;
use crate::kernels::reference as k;
use crate::ops::{self, Io, OpSet, internal};
use crate::pack::layout::NO_TENSOR;
use crate::pack::{OpRecord, Pack, TensorInfo};
use crate::schedule::StepTable;
use crate::{Denoiser, Error, Result};

/// Which conv / linear kernels the engine runs (both give the same bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Kernels {
    /// [`crate::kernels::reference`]: the portable oracle.
    Reference,
    /// [`crate::kernels::optimized`]: vectorized (and SMLAD with the `dsp` feature).
    #[default]
    Optimized,
}

/// Runs a pack's network, with the op kinds of `OPS` (an [`OpSet`] of bits; all by default).
#[derive(Debug)]
pub struct Engine<'p, 'a, const OPS: u32 = { OpSet::ALL }> {
    pack: Pack<'p>,
    arena: &'a mut [i8],
    kernels: Kernels,
    /// The conv kernel's patch and per-channel buffers, made once here rather than per call.
    scratch: ConvScratch,
}

impl<'p, 'a> Engine<'p, 'a> {
    /// An engine over `arena`, which must hold at least [`Pack::arena_bytes`] bytes, that
    /// runs every op kind.
    pub fn new(pack: Pack<'p>, arena: &'a mut [i8]) -> Result<Self> {
        Engine::with_ops(pack, arena)
    }
}

impl<'p, 'a, const OPS: u32> Engine<'p, 'a, OPS> {
    /// [`Engine::new`] with the op kinds of `OPS` only: a pack with any other kind is an
    /// [`Error::OpNotLinked`] here, and the code of the others is not linked.
    pub fn with_ops(pack: Pack<'p>, arena: &'a mut [i8]) -> Result<Self> {
        for i in 0..pack.meta().op_count {
            let o = pack.op(i).ok_or(internal("valid ops"))?;
            if !OpSet(OPS).contains(o.kind) {
                return Err(Error::OpNotLinked { kind: o.kind });
            }
        }
        if arena.len() < pack.arena_bytes() {
            return Err(Error::ArenaTooSmall {
                needed: pack.arena_bytes(),
                given: arena.len(),
            });
        }
        Ok(Self {
            pack,
            arena,
            kernels: Kernels::default(),
            scratch: ConvScratch::new(),
        })
    }

    /// The same engine running `kernels` (benchmarks compare the two sets).
    pub fn with_kernels(self, kernels: Kernels) -> Self {
        Self { kernels, ..self }
    }

    /// The pack this engine runs.
    pub fn pack(&self) -> &Pack<'p> {
        &self.pack
    }

    fn tensor(&self, id: u16) -> Result<TensorInfo> {
        self.pack.tensor(id).ok_or(internal("valid tensor ids"))
    }

    fn qparams(&self, step: usize, t: &TensorInfo) -> Result<QParams> {
        self.pack
            .qparams(step, t.qparam)
            .ok_or(internal("valid quantization sets"))
    }

    /// The int8 input tensor, to fill before [`Engine::run`].
    pub fn input_mut(&mut self) -> Result<&mut [i8]> {
        let t = self.tensor(self.pack.meta().input)?;
        self.arena
            .get_mut(t.offset..t.offset + t.len())
            .ok_or(internal("tensors inside the arena"))
    }

    /// The int8 output tensor after [`Engine::run`].
    pub fn output(&self) -> Result<&[i8]> {
        self.tensor_data(self.pack.meta().output)
    }

    /// The contents of tensor `id` in the arena.
    fn tensor_data(&self, id: u16) -> Result<&[i8]> {
        let t = self.tensor(id)?;
        self.arena
            .get(t.offset..t.offset + t.len())
            .ok_or(internal("tensors inside the arena"))
    }

    /// Quantization of the input and output tensors at `step`.
    pub fn io_qparams(&self, step: usize) -> Result<(QParams, QParams)> {
        let m = self.pack.meta();
        let (i, o) = (self.tensor(m.input)?, self.tensor(m.output)?);
        Ok((self.qparams(step, &i)?, self.qparams(step, &o)?))
    }

    /// Runs every op for sampling step `step` with class `label` (`num_classes` is the null
    /// label of classifier-free guidance; ignored by unconditional models).
    pub fn run(&mut self, step: usize, label: u16) -> Result<()> {
        self.run_observed(step, label, &mut |_, _, _| {})
    }

    /// [`Engine::run`], calling `after(index, op, output)` when each op is done, with the
    /// int8 tensor it wrote (profilers read a cycle counter there; tests compare every
    /// intermediate tensor with another engine).
    pub fn run_observed(
        &mut self,
        step: usize,
        label: u16,
        after: &mut impl FnMut(u16, &OpRecord, &[i8]),
    ) -> Result<()> {
        let steps = usize::from(self.pack.meta().steps);
        if step >= steps {
            return Err(Error::StepOutOfRange { step, steps });
        }
        let classes = self.pack.meta().num_classes;
        if classes > 0 && label > classes {
            return Err(Error::LabelOutOfRange { label, classes });
        }
        for i in 0..self.pack.meta().op_count {
            let o = self.pack.op(i).ok_or(internal("valid ops"))?;
            self.exec(&o, step, label)?;
            after(i, &o, self.tensor_data(o.out)?);
        }
        Ok(())
    }

    fn exec(&mut self, o: &OpRecord, step: usize, label: u16) -> Result<()> {
        let out_t = self.tensor(o.out)?;
        let q_out = self.qparams(step, &out_t)?;
        let in0_t = if o.in0 == NO_TENSOR || o.kind.embed_index().is_some() {
            None
        } else {
            Some(self.tensor(o.in0)?)
        };
        let in1_t = if o.in1 == NO_TENSOR {
            None
        } else {
            Some(self.tensor(o.in1)?)
        };
        let q0 = match &in0_t {
            Some(t) => self.qparams(step, t)?,
            None => q_out,
        };
        let q1 = match &in1_t {
            Some(t) => self.qparams(step, t)?,
            None => q_out,
        };
        let io = split(self.arena, &out_t, in0_t.as_ref(), in1_t.as_ref())
            .ok_or(internal("disjoint op tensors"))?;
        ops::run::<OPS>(ops::Run {
            o,
            pack: &self.pack,
            kernels: self.kernels,
            scratch: &mut self.scratch,
            step,
            label,
            out_t,
            in0_t,
            q: [q0, q1, q_out],
            io,
        })
    }
}

/// Borrows the output of an op mutably and its inputs immutably from one arena. Inputs must
/// lie entirely before or after the output (the pack reader checks this).
fn split<'x>(
    arena: &'x mut [i8],
    out: &TensorInfo,
    in0: Option<&TensorInfo>,
    in1: Option<&TensorInfo>,
) -> Option<Io<'x>> {
    let (before, rest) = arena.split_at_mut_checked(out.offset)?;
    let (out_s, after) = rest.split_at_mut_checked(out.len())?;
    let (before, after): (&'x [i8], &'x [i8]) = (before, after);
    let end = out.offset + out.len();
    let pick = |t: Option<&TensorInfo>| -> Option<&'x [i8]> {
        match t {
            None => Some(&[]),
            Some(t) if t.offset + t.len() <= out.offset => before.get(t.offset..t.offset + t.len()),
            Some(t) if t.offset >= end => after.get(t.offset - end..t.offset - end + t.len()),
            Some(_) => None,
        }
    };
    Some(Io {
        in0: pick(in0)?,
        in1: pick(in1)?,
        out: out_s,
    })
}

impl<const OPS: u32> Denoiser for Engine<'_, '_, OPS> {
    /// Evaluates each sample of the batch in turn. With classifier-free guidance
    /// (`guidance != 1` in a conditional pack) each sample runs twice, with its label and the
    /// null label, and the outputs combine as `u + g (c - u)`.
    fn eval(
        &mut self,
        x: &[f32],
        t: u32,
        step: usize,
        labels: &[u16],
        out: &mut [f32],
    ) -> Result<()> {
        let meta = *self.pack.meta();
        let dim = meta.sample_len();
        if x.is_empty() || !x.len().is_multiple_of(dim) || out.len() != x.len() {
            return Err(Error::ShapeMismatch { dim, got: x.len() });
        }
        let expected = self.pack.schedule().row(step).map(|r| r.t);
        if expected != Some(t) {
            return Err(Error::TimestepMismatch {
                step,
                expected: expected.unwrap_or(0),
                got: t,
            });
        }
        let batch = x.len() / dim;
        let conditional = meta.num_classes > 0;
        if conditional && !labels.is_empty() && labels.len() != batch {
            return Err(Error::BufferSize {
                buffer: crate::error::Buffer::Labels,
                expected: batch,
                got: labels.len(),
            });
        }
        let (q_in, q_out) = self.io_qparams(step)?;
        for (b, (xs, os)) in x
            .chunks_exact(dim)
            .zip(out.chunks_exact_mut(dim))
            .enumerate()
        {
            let label = labels.get(b).copied().unwrap_or(meta.num_classes);
            k::quantize(xs, q_in, self.input_mut()?);
            self.run(step, label)?;
            k::dequantize(self.output()?, q_out, os);
            if crate::prediction::needs_guidance(meta.num_classes, label, meta.guidance) {
                k::quantize(xs, q_in, self.input_mut()?);
                self.run(step, meta.num_classes)?;
                for (o, q) in os.iter_mut().zip(self.output()?) {
                    let u = q_out.dequantize(*q);
                    *o = crate::prediction::guide(*o, u, meta.guidance);
                }
            }
        }
        Ok(())
    }
}
