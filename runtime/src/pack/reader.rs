//! The validating pack reader.

// The pack is untrusted input: no arithmetic here may overflow on its values (sizes
// saturate or are checked, so a hostile value fails a bounds check instead), and no index
// may panic. usize is 32 bits on the Cortex-M, where three u16 dimensions can overflow it.
#![cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)
)]

use super::crc32::crc32;
use super::layout::{
    self, ALIGN, ARENA_ALIGN, NO_TENSOR, OpKind, Section, directory, header, meta, op, qparam,
    schedule, tensor,
};
use crate::error::PackProblem;
use crate::kernels::quant::{QParams, read_f32, read_i32};
use crate::ops::{self, OpSet};
use crate::prediction::PredictionType;
use crate::sampler::DynamicThreshold;
use crate::schedule::{StepRow, StepTable};
use crate::{Error, Result};

/// Most tensors a pack may declare (bounds the reader's stack bitset).
pub const MAX_TENSORS: usize = 1024;
/// Largest magnitude of a bias, and of a conv's accumulated products, so that
/// `bias + sum((x - z_x) w)` cannot overflow `i32`.
pub const ACC_LIMIT: i64 = 1 << 30;

fn err(section: Section, offset: usize, problem: PackProblem) -> Error {
    Error::Pack {
        section,
        offset: offset as u32,
        problem,
    }
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    match b.get(o..o.saturating_add(2)) {
        Some(&[x, y]) => u16::from_le_bytes([x, y]),
        _ => 0,
    }
}

/// Record `i` of `size` bytes in `b` (`None` past the end; no overflow on hostile indices).
fn record(b: &[u8], i: usize, size: usize) -> Option<&[u8]> {
    let start = i.checked_mul(size)?;
    b.get(start..start.checked_add(size)?)
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    read_i32(b.get(o..).unwrap_or(&[]), 0) as u32
}

/// The META section, decoded.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Meta {
    /// Channels, height and width of one sample.
    pub sample_shape: [u16; 3],
    /// What the network predicts.
    pub prediction: PredictionType,
    /// `clip_sample` range, if clipping is on.
    pub clip_sample: Option<f32>,
    /// Dynamic thresholding of x0, if on.
    pub thresholding: Option<DynamicThreshold>,
    /// Classes of a conditional model (0: unconditional).
    pub num_classes: u16,
    /// Langevin corrector steps per sampling step.
    pub corrector_steps: u8,
    /// History coefficients per step row beyond `c_hist` (0 to 2).
    pub extra_history: u8,
    /// Rows of the step table.
    pub steps: u16,
    /// Rows of the quantization table (1 or `steps`).
    pub qparam_rows: u16,
    /// Quantization parameter sets per row.
    pub qparam_count: u16,
    /// Tensors.
    pub tensor_count: u16,
    /// Ops.
    pub op_count: u16,
    /// Input tensor.
    pub input: u16,
    /// Output tensor.
    pub output: u16,
    /// Classifier-free guidance scale.
    pub guidance: f32,
    /// Multiply-accumulates per network evaluation.
    pub macs: u32,
}

impl Meta {
    /// The sampler configuration the pack was compiled for (prediction type, clipping or
    /// dynamic thresholding per sample, corrector steps).
    pub fn sampler_config(&self) -> crate::sampler::SamplerConfig {
        crate::sampler::SamplerConfig {
            prediction: self.prediction,
            clip_sample: self.clip_sample,
            corrector_steps: self.corrector_steps,
            thresholding: self
                .thresholding
                .map(|t| t.for_samples_of(self.sample_len())),
        }
    }

    /// Elements of one sample.
    pub fn sample_len(&self) -> usize {
        self.sample_shape.iter().map(|d| usize::from(*d)).product()
    }
}

/// One activation tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TensorInfo {
    /// `[c, h, w]`.
    pub shape: [usize; 3],
    /// Quantization parameter set.
    pub qparam: u16,
    /// Byte offset in the arena.
    pub offset: usize,
}

impl TensorInfo {
    /// Bytes (elements) of the tensor.
    pub fn len(&self) -> usize {
        self.shape[0]
            .saturating_mul(self.shape[1])
            .saturating_mul(self.shape[2])
    }

    /// Whether the tensor has no elements (never true in a valid pack).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn end(&self) -> usize {
        self.offset.saturating_add(self.len())
    }

    pub(crate) fn overlaps(&self, other: &TensorInfo) -> bool {
        self.offset < other.end() && other.offset < self.end()
    }
}

/// One op record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct OpRecord {
    /// Kind.
    pub kind: OpKind,
    /// Flags.
    pub flags: u8,
    /// First input tensor.
    pub in0: u16,
    /// Second input tensor or [`NO_TENSOR`].
    pub in1: u16,
    /// Output tensor.
    pub out: u16,
    /// Attributes.
    pub attr: [u16; 4],
    /// Blob offsets.
    pub blob: [u32; 3],
    /// Extra word.
    pub extra: u32,
}

/// The step table inside a pack, read in place.
#[derive(Clone, Copy, Debug)]
pub struct PackSchedule<'a> {
    bytes: &'a [u8],
    extra_history: u8,
}

impl StepTable for PackSchedule<'_> {
    fn steps(&self) -> usize {
        self.bytes
            .len()
            .checked_div(schedule::row_size(self.extra_history))
            .unwrap_or(0)
    }

    fn row(&self, i: usize) -> Option<StepRow> {
        let r = record(self.bytes, i, schedule::row_size(self.extra_history))?;
        let stored = 9 + usize::from(self.extra_history);
        let mut c = [0.0f32; StepRow::COEFFS];
        for (k, v) in c.iter_mut().enumerate().take(stored) {
            *v = read_f32(r, k.saturating_add(2));
        }
        Some(StepRow::from_coeffs(
            read_i32(r, 0) as u32,
            read_i32(r, 1),
            c,
        ))
    }
}

/// A validated model pack.
#[derive(Clone, Copy, Debug)]
pub struct Pack<'a> {
    meta: Meta,
    arena_bytes: usize,
    state_bytes: usize,
    schedule: &'a [u8],
    tensors: &'a [u8],
    qparams: &'a [u8],
    ops: &'a [u8],
    blob: &'a [u8],
    /// Offsets of the sections in the pack, for error reports.
    offsets: [usize; 7],
}

impl<'a> Pack<'a> {
    /// Validates `bytes` and returns a zero-copy view of it.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        Self::parse_for::<{ OpSet::ALL }>(bytes)
    }

    /// [`Pack::parse`] for an engine of the op kinds `OPS` (an [`OpSet`]): an op of another
    /// kind is [`crate::Error::OpNotLinked`], and the validation code of the other kinds is
    /// not linked (firmware passes the kinds of its one pack).
    pub fn parse_for<const OPS: u32>(bytes: &'a [u8]) -> Result<Self> {
        let h = Section::Header;
        let len = bytes.len();
        if len < header::SIZE {
            return Err(err(
                h,
                len,
                PackProblem::Truncated {
                    needed: header::SIZE as u32,
                    available: len as u32,
                },
            ));
        }
        if bytes.get(..4) != Some(&layout::MAGIC[..]) {
            return Err(err(h, header::MAGIC, PackProblem::BadMagic));
        }
        let version = u16_at(bytes, header::VERSION);
        if version != layout::VERSION {
            return Err(err(
                h,
                header::VERSION,
                PackProblem::UnsupportedVersion {
                    found: version,
                    supported: layout::VERSION,
                },
            ));
        }
        let hsize = u16_at(bytes, header::HEADER_SIZE);
        if usize::from(hsize) != header::SIZE {
            return Err(err(
                h,
                header::HEADER_SIZE,
                PackProblem::SizeMismatch {
                    expected: header::SIZE as u32,
                    got: u32::from(hsize),
                },
            ));
        }
        let total = u32_at(bytes, header::TOTAL_LEN);
        if total as usize != len {
            return Err(err(
                h,
                header::TOTAL_LEN,
                PackProblem::LengthMismatch {
                    header: total,
                    actual: len as u32,
                },
            ));
        }
        let stored = u32_at(bytes, header::CRC);
        let computed = crc32(bytes.get(header::CRC_START..).unwrap_or(&[]));
        if stored != computed {
            return Err(err(h, header::CRC, PackProblem::Crc { stored, computed }));
        }

        // Directory.
        let count = usize::from(u16_at(bytes, header::SECTION_COUNT));
        let dir_end = header::SIZE.saturating_add(count.saturating_mul(directory::ENTRY));
        if dir_end > len {
            return Err(err(
                h,
                header::SECTION_COUNT,
                PackProblem::Truncated {
                    needed: dir_end as u32,
                    available: len as u32,
                },
            ));
        }
        let mut found: [Option<&'a [u8]>; 7] = [None; 7];
        let mut offsets = [0usize; 7];
        for i in 0..count {
            let e = header::SIZE.saturating_add(i.saturating_mul(directory::ENTRY));
            let code = u32_at(bytes, e);
            let section =
                Section::from_code(code).ok_or(err(h, e, PackProblem::UnknownSection { code }))?;
            let (e4, e8) = (e.saturating_add(4), e.saturating_add(8));
            let off = u32_at(bytes, e4) as usize;
            let slen = u32_at(bytes, e8) as usize;
            if !off.is_multiple_of(ALIGN) {
                return Err(err(section, e4, PackProblem::Misaligned));
            }
            let body = bytes
                .get(off..off.saturating_add(slen))
                .filter(|_| off >= dir_end)
                .ok_or(err(section, e4, PackProblem::OutOfBounds))?;
            let slot = section as usize;
            match (found.get_mut(slot), offsets.get_mut(slot)) {
                (Some(f @ None), Some(o)) => {
                    *f = Some(body);
                    *o = off;
                }
                _ => return Err(err(section, e, PackProblem::Duplicate)),
            }
        }
        let get = |s: Section| {
            found.get(s as usize).copied().flatten().ok_or(err(
                s,
                header::SIZE,
                PackProblem::Missing,
            ))
        };
        let meta_bytes = get(Section::Meta)?;
        let pack = Pack {
            meta: parse_meta(
                meta_bytes,
                offsets.get(Section::Meta as usize).copied().unwrap_or(0),
            )?,
            arena_bytes: u32_at(bytes, header::ARENA_BYTES) as usize,
            state_bytes: u32_at(bytes, header::STATE_BYTES) as usize,
            schedule: get(Section::Schedule)?,
            tensors: get(Section::Tensors)?,
            qparams: get(Section::QParams)?,
            ops: get(Section::Ops)?,
            blob: get(Section::Blob)?,
            offsets,
        };
        pack.validate::<OPS>()?;
        Ok(pack)
    }

    /// The decoded META section.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Arena bytes the graph needs.
    pub fn arena_bytes(&self) -> usize {
        self.arena_bytes
    }

    /// Sampler state bytes for one sample, as recorded by the compiler.
    pub fn state_bytes(&self) -> usize {
        self.state_bytes
    }

    /// The step table.
    pub fn schedule(&self) -> PackSchedule<'a> {
        PackSchedule {
            bytes: self.schedule,
            extra_history: self.meta.extra_history,
        }
    }

    /// Tensor `i`.
    pub fn tensor(&self, i: u16) -> Option<TensorInfo> {
        let r = record(self.tensors, usize::from(i), tensor::SIZE)?;
        Some(TensorInfo {
            shape: [
                usize::from(u16_at(r, tensor::C)),
                usize::from(u16_at(r, tensor::H)),
                usize::from(u16_at(r, tensor::W)),
            ],
            qparam: u16_at(r, tensor::QPARAM),
            offset: u32_at(r, tensor::ARENA_OFFSET) as usize,
        })
    }

    /// Op `i`.
    pub fn op(&self, i: u16) -> Option<OpRecord> {
        let r = record(self.ops, usize::from(i), op::SIZE)?;
        let kind = OpKind::from_code(*r.get(op::KIND)?)?;
        Some(OpRecord {
            kind,
            flags: *r.get(op::FLAGS)?,
            in0: u16_at(r, op::IN0),
            in1: u16_at(r, op::IN1),
            out: u16_at(r, op::OUT),
            attr: [0, 2, 4, 6].map(|k| u16_at(r, op::ATTR.saturating_add(k))),
            blob: [0, 4, 8].map(|k| u32_at(r, op::BLOB.saturating_add(k))),
            extra: u32_at(r, op::EXTRA),
        })
    }

    /// Quantization parameters of set `q` at step `step` (row 0 when they are static).
    pub fn qparams(&self, step: usize, q: u16) -> Option<QParams> {
        let row = if self.meta.qparam_rows == 1 { 0 } else { step };
        let idx = row
            .checked_mul(usize::from(self.meta.qparam_count))?
            .checked_add(usize::from(q))?;
        let r = record(self.qparams, idx, qparam::SIZE)?;
        Some(QParams {
            scale: read_f32(r, 0),
            zero_point: read_i32(r, 1),
        })
    }

    /// `len` bytes of the blob at `offset`.
    pub fn blob(&self, offset: u32, len: usize) -> Option<&'a [u8]> {
        let o = offset as usize;
        self.blob.get(o..o.checked_add(len)?)
    }

    fn at(&self, s: Section, within: usize) -> usize {
        self.offsets
            .get(s as usize)
            .map_or(within, |o| o.saturating_add(within))
    }

    fn validate<const OPS: u32>(&self) -> Result<()> {
        let m = &self.meta;
        let size = |s: Section, got: usize, expected: usize| {
            if got == expected {
                Ok(())
            } else {
                Err(err(
                    s,
                    self.at(s, 0),
                    PackProblem::SizeMismatch {
                        expected: expected as u32,
                        got: got as u32,
                    },
                ))
            }
        };
        size(
            Section::Schedule,
            self.schedule.len(),
            usize::from(m.steps).saturating_mul(schedule::row_size(m.extra_history)),
        )?;
        for i in 0..usize::from(m.steps) {
            let row = self.schedule().row(i).unwrap_or_default();
            row.validate(i)
                .and_then(|()| row.validate_path(i, m.prediction))
                .map_err(|e| match e {
                    Error::BadStepRow { field, .. } => err(
                        Section::Schedule,
                        self.at(
                            Section::Schedule,
                            i.saturating_mul(schedule::row_size(m.extra_history)),
                        ),
                        PackProblem::BadValue(field),
                    ),
                    other => other,
                })?;
        }
        let qsets = usize::from(m.qparam_rows).saturating_mul(usize::from(m.qparam_count));
        size(
            Section::QParams,
            self.qparams.len(),
            qsets.saturating_mul(qparam::SIZE),
        )?;
        for (i, r) in self.qparams.chunks_exact(qparam::SIZE).enumerate() {
            let q = QParams {
                scale: read_f32(r, 0),
                zero_point: read_i32(r, 1),
            };
            if !(q.scale > 0.0 && q.scale.is_finite() && (-128..=127).contains(&q.zero_point)) {
                return Err(err(
                    Section::QParams,
                    self.at(Section::QParams, i.saturating_mul(qparam::SIZE)),
                    PackProblem::BadValue(
                        "scale must be finite and positive, zero point in [-128, 127]",
                    ),
                ));
            }
        }
        size(
            Section::Tensors,
            self.tensors.len(),
            usize::from(m.tensor_count) * tensor::SIZE,
        )?;
        for i in 0..m.tensor_count {
            let t = self.tensor(i).unwrap_or(TensorInfo {
                shape: [0; 3],
                qparam: 0,
                offset: 0,
            });
            let at = self.at(Section::Tensors, usize::from(i) * tensor::SIZE);
            let bad = |what| err(Section::Tensors, at, PackProblem::BadValue(what));
            if t.is_empty() {
                return Err(bad("every tensor dimension must be at least 1"));
            }
            if t.qparam >= m.qparam_count {
                return Err(bad("quantization set index out of range"));
            }
            if !t.offset.is_multiple_of(ARENA_ALIGN) {
                return Err(err(Section::Tensors, at, PackProblem::Misaligned));
            }
            if t.end() > self.arena_bytes {
                return Err(err(Section::Tensors, at, PackProblem::OutOfBounds));
            }
        }
        let sample = m.sample_len();
        for id in [m.input, m.output] {
            let t = self.tensor(id).ok_or(err(
                Section::Meta,
                self.at(Section::Meta, meta::INPUT),
                PackProblem::BadValue("input/output tensor index out of range"),
            ))?;
            if t.len() != sample {
                return Err(err(
                    Section::Meta,
                    self.at(Section::Meta, meta::INPUT),
                    PackProblem::SizeMismatch {
                        expected: sample as u32,
                        got: t.len() as u32,
                    },
                ));
            }
        }
        size(
            Section::Ops,
            self.ops.len(),
            usize::from(m.op_count) * op::SIZE,
        )?;
        let mut defined = [0u64; MAX_TENSORS / 64];
        let mark = |d: &mut [u64; MAX_TENSORS / 64], t: u16| {
            if let Some(w) = d.get_mut(usize::from(t) / 64) {
                *w |= 1 << (t % 64);
            }
        };
        let is_defined = |d: &[u64; MAX_TENSORS / 64], t: u16| {
            d.get(usize::from(t) / 64)
                .is_some_and(|w| w & (1 << (t % 64)) != 0)
        };
        mark(&mut defined, m.input);
        for i in 0..m.op_count {
            let at = self.at(Section::Ops, usize::from(i) * op::SIZE);
            let code = self
                .ops
                .get(usize::from(i) * op::SIZE)
                .copied()
                .unwrap_or(0);
            let o = self
                .op(i)
                .ok_or(err(Section::Ops, at, PackProblem::UnknownOp { code }))?;
            let inputs = self.check_op::<OPS>(&o, at)?;
            for t in inputs.into_iter().flatten() {
                if !is_defined(&defined, t) {
                    return Err(err(
                        Section::Ops,
                        at,
                        PackProblem::BadValue("op reads a tensor no earlier op wrote"),
                    ));
                }
            }
            mark(&mut defined, o.out);
        }
        if !is_defined(&defined, m.output) {
            return Err(err(
                Section::Meta,
                self.at(Section::Meta, meta::OUTPUT),
                PackProblem::BadValue("no op writes the output tensor"),
            ));
        }
        Ok(())
    }

    /// Checks one op's tensors, shapes and blob ranges (the op's own module in
    /// [`crate::ops`]); returns the tensors it reads.
    fn check_op<const OPS: u32>(&self, o: &OpRecord, at: usize) -> Result<[Option<u16>; 2]> {
        let bad = |what| err(Section::Ops, at, PackProblem::BadValue(what));
        let tensor = |id: u16| self.tensor(id).ok_or(bad("tensor index out of range"));
        let blob = |k: usize, len: usize| -> Result<&'a [u8]> {
            let off = o.blob.get(k).copied().unwrap_or(u32::MAX);
            if !(off as usize).is_multiple_of(4) {
                return Err(err(Section::Ops, at, PackProblem::Misaligned));
            }
            self.blob(off, len)
                .ok_or(err(Section::Ops, at, PackProblem::OutOfBounds))
        };
        let check = ops::Check {
            o,
            out: tensor(o.out)?,
            meta: &self.meta,
            tensor: &tensor,
            blob: &blob,
            bad: &bad,
        };
        let reads = ops::check::<OPS>(&check)?;
        if o.in1 != NO_TENSOR && reads[1].is_none() {
            return Err(bad("this op kind takes one input; in1 must be 0xffff"));
        }
        Ok(reads)
    }
}

fn parse_meta(b: &[u8], off: usize) -> Result<Meta> {
    let s = Section::Meta;
    if b.len() != meta::SIZE {
        return Err(err(
            s,
            off,
            PackProblem::SizeMismatch {
                expected: meta::SIZE as u32,
                got: b.len() as u32,
            },
        ));
    }
    let bad = |field: usize, what| err(s, off.saturating_add(field), PackProblem::BadValue(what));
    let byte = |o: usize| b.get(o).copied().unwrap_or(0);
    let prediction = match byte(meta::PREDICTION) {
        0 => PredictionType::Epsilon,
        1 => PredictionType::Sample,
        2 => PredictionType::VPrediction,
        3 => PredictionType::FlowVelocity,
        _ => return Err(bad(meta::PREDICTION, "prediction type must be 0 to 3")),
    };
    let clip = read_f32(b, meta::CLIP_RANGE / 4);
    let clip_sample = if byte(meta::FLAGS) & meta::FLAG_CLIP != 0 {
        if !(clip > 0.0 && clip.is_finite()) {
            return Err(bad(
                meta::CLIP_RANGE,
                "clip range must be finite and positive",
            ));
        }
        Some(clip)
    } else {
        None
    };
    let thresholding = if byte(meta::FLAGS) & meta::FLAG_THRESHOLD != 0 {
        let t = DynamicThreshold {
            ratio: read_f32(b, meta::THRESHOLD_RATIO / 4),
            max_value: read_f32(b, meta::THRESHOLD_MAX / 4),
        };
        if !(t.ratio > 0.0 && t.ratio <= 1.0 && t.max_value >= 1.0 && t.max_value.is_finite()) {
            return Err(bad(
                meta::THRESHOLD_RATIO,
                "thresholding needs a ratio in (0, 1] and a finite max >= 1",
            ));
        }
        Some(t)
    } else {
        None
    };
    let m = Meta {
        sample_shape: [
            u16_at(b, meta::SAMPLE_C),
            u16_at(b, meta::SAMPLE_H),
            u16_at(b, meta::SAMPLE_W),
        ],
        prediction,
        clip_sample,
        thresholding,
        num_classes: u16_at(b, meta::NUM_CLASSES),
        corrector_steps: byte(meta::CORRECTOR_STEPS),
        extra_history: byte(meta::EXTRA_HISTORY),
        steps: u16_at(b, meta::STEPS),
        qparam_rows: u16_at(b, meta::QPARAM_ROWS),
        qparam_count: u16_at(b, meta::QPARAM_COUNT),
        tensor_count: u16_at(b, meta::TENSOR_COUNT),
        op_count: u16_at(b, meta::OP_COUNT),
        input: u16_at(b, meta::INPUT),
        output: u16_at(b, meta::OUTPUT),
        guidance: read_f32(b, meta::GUIDANCE / 4),
        macs: u32_at(b, meta::MACS),
    };
    if m.sample_len() == 0 {
        return Err(bad(meta::SAMPLE_C, "sample dimensions must be at least 1"));
    }
    if m.steps == 0 {
        return Err(bad(meta::STEPS, "at least one sampling step"));
    }
    if usize::from(m.extra_history) + 1 > crate::schedule::MAX_HISTORY {
        return Err(bad(
            meta::EXTRA_HISTORY,
            "at most 2 history coefficients beyond c_hist",
        ));
    }
    if m.qparam_rows != 1 && m.qparam_rows != m.steps {
        return Err(bad(
            meta::QPARAM_ROWS,
            "quantization rows must be 1 or the step count",
        ));
    }
    if usize::from(m.tensor_count) > MAX_TENSORS {
        return Err(bad(meta::TENSOR_COUNT, "more than 1024 tensors"));
    }
    if !m.guidance.is_finite() {
        return Err(bad(meta::GUIDANCE, "guidance scale must be finite"));
    }
    Ok(m)
}
