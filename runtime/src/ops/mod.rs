//! One module per op kind. Each holds the op's pack validation (`check`, run once by the pack
//! reader on untrusted bytes) and its execution (`run`, by the engine over the arena, with the
//! reference or optimized kernels). The reader and the engine dispatch through [`check`] and
//! [`run`] here: adding an op kind is a code in [`crate::pack::layout::OpKind`], a module, and
//! one guarded arm in each of the two functions below ([`OpSet`] leaves the kinds a firmware
//! build does not use out of both).

mod add;
mod concat;
mod conv;
mod conv_transpose;
mod embed;
mod group_norm;
mod layer_norm;
mod lut;
mod matmul;
mod max_pool;
mod mul;
mod slice;
mod softmax;
mod transpose;
mod upsample;

use crate::engine::Kernels;
use crate::kernels::quant::QParams;
use crate::pack::layout::OpKind;
use crate::pack::{Meta, OpRecord, Pack, TensorInfo};
use crate::{Error, Result};

/// The tensors an op reads (`None`: no second input).
pub(crate) type Reads = [Option<u16>; 2];

/// What the validation of one op sees: its record, its output tensor, the pack's metadata,
/// and bounds-checked access to tensors and blobs. Every error names the op's offset.
pub(crate) struct Check<'c, 'a> {
    /// The op.
    pub o: &'c OpRecord,
    /// Its output tensor.
    pub out: TensorInfo,
    /// The pack's metadata.
    pub meta: &'c Meta,
    /// A tensor by id, or an error.
    pub tensor: &'c dyn Fn(u16) -> Result<TensorInfo>,
    /// Blob `k` of the op, `len` bytes, or an error (misaligned or out of bounds).
    pub blob: &'c dyn Fn(usize, usize) -> Result<&'a [u8]>,
    /// The error for a bad value.
    pub bad: &'c dyn Fn(&'static str) -> Error,
}

impl Check<'_, '_> {
    /// Input tensor `id`, which must not overlap the output in the arena.
    pub fn input(&self, id: u16) -> Result<TensorInfo> {
        let t = (self.tensor)(id)?;
        if t.overlaps(&self.out) {
            return Err((self.bad)(
                "an op's output overlaps one of its inputs in the arena",
            ));
        }
        Ok(t)
    }

    /// The op's four attributes.
    pub fn attr(&self) -> [usize; 4] {
        self.o.attr.map(usize::from)
    }

    /// The two inputs of an element-wise op: `in0` of the output's shape, `in1` the same,
    /// one value per channel (`[c, 1, 1]`), or one per position of the last axis (`[1, 1, n]`,
    /// repeated over the rows of `n` of `in0`: tokens modulated by a vector); `what` names the
    /// shape rule in the error.
    #[cfg_attr(
        not(test),
        deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)
    )]
    pub fn elementwise_pair(&self, what: &'static str) -> Result<Reads> {
        let (a, b) = (self.input(self.o.in0)?, self.input(self.o.in1)?);
        let per_channel = b.shape == [a.shape[0], 1, 1];
        let [b0, b1, n] = b.shape;
        let per_column = b0 == 1 && b1 == 1 && n > 0 && a.len().is_multiple_of(n);
        if a.shape != self.out.shape || !(b.shape == a.shape || per_channel || per_column) {
            return Err((self.bad)(what));
        }
        Ok([Some(self.o.in0), Some(self.o.in1)])
    }
}

/// Validates one op, if its kind is in `OPS` (an [`OpSet`]); returns the tensors it reads.
pub(crate) fn check<const OPS: u32>(c: &Check) -> Result<Reads> {
    let has = |k: OpKind| OpSet(OPS).contains(k);
    match c.o.kind {
        OpKind::Conv if has(OpKind::Conv) => conv::check(c),
        OpKind::Add if has(OpKind::Add) => add::check(c),
        OpKind::Mul if has(OpKind::Mul) => mul::check(c),
        OpKind::Concat if has(OpKind::Concat) => concat::check(c),
        OpKind::Upsample if has(OpKind::Upsample) => upsample::check(c),
        OpKind::Lut if has(OpKind::Lut) => lut::check(c),
        OpKind::GroupNorm if has(OpKind::GroupNorm) => group_norm::check(c),
        OpKind::Transpose if has(OpKind::Transpose) => transpose::check(c),
        OpKind::Slice if has(OpKind::Slice) => slice::check(c),
        OpKind::MatMul if has(OpKind::MatMul) => matmul::check(c),
        OpKind::Softmax if has(OpKind::Softmax) => softmax::check(c),
        OpKind::ConvTranspose if has(OpKind::ConvTranspose) => conv_transpose::check(c),
        OpKind::LayerNorm if has(OpKind::LayerNorm) => layer_norm::check(c),
        OpKind::MaxPool if has(OpKind::MaxPool) => max_pool::check(c),
        k @ (OpKind::StepEmbed
        | OpKind::ClassEmbed
        | OpKind::StepClassEmbed
        | OpKind::ConstEmbed)
            if has(k) =>
        {
            embed::check(c)
        }
        kind => Err(crate::Error::OpNotLinked { kind }),
    }
}

/// The split borrow of one op: its output, and its inputs from elsewhere in the arena.
pub(crate) struct Io<'x> {
    /// The output.
    pub out: &'x mut [i8],
    /// The first input (empty when none).
    pub in0: &'x [i8],
    /// The second input (empty when none).
    pub in1: &'x [i8],
}

/// What the execution of one op sees.
pub(crate) struct Run<'x, 'p> {
    /// The op.
    pub o: &'x OpRecord,
    /// The pack (blobs, metadata).
    pub pack: &'x Pack<'p>,
    /// Which conv / linear kernels run.
    pub kernels: Kernels,
    /// The optimized conv kernel's buffers.
    pub scratch: &'x mut crate::kernels::optimized::ConvScratch,
    /// The sampling step.
    pub step: usize,
    /// The class label.
    pub label: u16,
    /// The output tensor.
    pub out_t: TensorInfo,
    /// The first input tensor, if the op reads one.
    pub in0_t: Option<TensorInfo>,
    /// Quantization of the first input, the second input and the output at this step.
    pub q: [QParams; 3],
    /// The arena slices.
    pub io: Io<'x>,
}

impl<'p> Run<'_, 'p> {
    /// Blob `k` of the op, `len` bytes (validated by the reader), in place in the pack.
    pub fn blob(&self, k: usize, len: usize) -> Result<&'p [u8]> {
        let offset = self.o.blob.get(k).copied().unwrap_or(u32::MAX);
        self.pack
            .blob(offset, len)
            .ok_or(internal("blobs in bounds"))
    }

    /// The first input tensor.
    pub fn in0(&self) -> Result<TensorInfo> {
        self.in0_t.ok_or(internal("an op input"))
    }

    /// The op's four attributes.
    pub fn attr(&self) -> [usize; 4] {
        self.o.attr.map(usize::from)
    }

    /// Whether the second input of an element-wise op repeats over rows (`[1, 1, n]` with
    /// `n > 1`) rather than over each channel's plane.
    pub fn per_column(&self) -> bool {
        self.pack
            .tensor(self.o.in1)
            .and_then(|t| crate::kernels::reference::row_vector(t.shape))
            .is_some()
    }
}

/// A set of op kinds, one bit per kind code: what an [`crate::Engine`] can run. Firmware
/// passes the kinds of its one pack (its build script reads them), so the code of every other
/// op is left out of flash, as TFLite Micro's op resolver does; host engines run them all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpSet(pub u32);

impl OpSet {
    /// Every op kind.
    pub const ALL: u32 = u32::MAX;

    /// The set of `kinds`.
    pub const fn of(kinds: &[OpKind]) -> Self {
        let mut bits = 0u32;
        let mut i = 0;
        while i < kinds.len() {
            bits |= 1 << (kinds[i] as u8 % 32);
            i += 1;
        }
        Self(bits)
    }

    /// Whether `kind` is in the set.
    pub const fn contains(self, kind: OpKind) -> bool {
        self.0 & (1 << (kind as u8 % 32)) != 0
    }
}

/// Runs one op, if its kind is in `OPS` (an [`OpSet`]): the guards are constants, so the
/// compiler drops the other ops' code.
pub(crate) fn run<const OPS: u32>(r: Run) -> Result<()> {
    let has = |k: OpKind| OpSet(OPS).contains(k);
    match r.o.kind {
        OpKind::Conv if has(OpKind::Conv) => conv::run(r),
        OpKind::Add if has(OpKind::Add) => add::run(r),
        OpKind::Mul if has(OpKind::Mul) => mul::run(r),
        OpKind::Concat if has(OpKind::Concat) => concat::run(r),
        OpKind::Upsample if has(OpKind::Upsample) => upsample::run(r),
        OpKind::Lut if has(OpKind::Lut) => lut::run(r),
        OpKind::GroupNorm if has(OpKind::GroupNorm) => group_norm::run(r),
        OpKind::Transpose if has(OpKind::Transpose) => transpose::run(r),
        OpKind::Slice if has(OpKind::Slice) => slice::run(r),
        OpKind::MatMul if has(OpKind::MatMul) => matmul::run(r),
        OpKind::Softmax if has(OpKind::Softmax) => softmax::run(r),
        OpKind::ConvTranspose if has(OpKind::ConvTranspose) => conv_transpose::run(r),
        OpKind::LayerNorm if has(OpKind::LayerNorm) => layer_norm::run(r),
        OpKind::MaxPool if has(OpKind::MaxPool) => max_pool::run(r),
        k @ (OpKind::StepEmbed
        | OpKind::ClassEmbed
        | OpKind::StepClassEmbed
        | OpKind::ConstEmbed)
            if has(k) =>
        {
            embed::run(r)
        }
        kind => Err(crate::Error::OpNotLinked { kind }),
    }
}

/// An error that a validated pack cannot cause; reported, never panicked on.
pub(crate) fn internal(what: &'static str) -> Error {
    Error::InvalidConfig {
        field: "engine",
        expected: what,
    }
}
