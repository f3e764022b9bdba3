//! Typed errors of the runtime.

use crate::pack::layout::{OpKind, Section};
use core::fmt;

/// Result alias used across the runtime.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Names a caller-provided buffer in [`Error::BufferSize`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Buffer {
    /// The sample being denoised, `x_t`.
    Sample,
    /// The network output for the current step.
    ModelOutput,
    /// The multistep history (previous data prediction) of DPM-Solver++.
    History,
    /// Class labels, one per sample of the batch.
    Labels,
    /// A signal to start from (SDEdit).
    Signal,
}

/// What is wrong in a model pack (see [`Error::Pack`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PackProblem {
    /// The pack does not start with the magic bytes.
    BadMagic,
    /// The format version is not the one this runtime reads.
    UnsupportedVersion {
        /// Version in the pack.
        found: u16,
        /// Version this runtime reads.
        supported: u16,
    },
    /// The bytes end before a structure does.
    Truncated {
        /// Bytes needed.
        needed: u32,
        /// Bytes available.
        available: u32,
    },
    /// The header's total length disagrees with the bytes given.
    LengthMismatch {
        /// Length in the header.
        header: u32,
        /// Bytes given.
        actual: u32,
    },
    /// The CRC-32 does not match: the pack is corrupted.
    Crc {
        /// CRC in the header.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// An offset is not aligned as the format requires.
    Misaligned,
    /// A section or blob range lies outside the pack or the arena.
    OutOfBounds,
    /// A required section is missing.
    Missing,
    /// A section appears twice.
    Duplicate,
    /// A section kind this runtime does not know.
    UnknownSection {
        /// Its code.
        code: u32,
    },
    /// An op kind this runtime does not know.
    UnknownOp {
        /// Its code.
        code: u8,
    },
    /// A size disagrees with what the other fields imply.
    SizeMismatch {
        /// Expected value.
        expected: u32,
        /// Value found.
        got: u32,
    },
    /// A field holds an invalid value.
    BadValue(&'static str),
}

/// Everything that can go wrong in the runtime.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error {
    /// A caller buffer has the wrong number of elements.
    BufferSize {
        /// Which buffer.
        buffer: Buffer,
        /// Elements required.
        expected: usize,
        /// Elements given.
        got: usize,
    },
    /// A step table has no rows.
    EmptySchedule,
    /// A step index lies outside the step table.
    StepOutOfRange {
        /// The step asked for.
        step: usize,
        /// Rows in the table.
        steps: usize,
    },
    /// A step-table row holds a value that the sampler cannot use.
    BadStepRow {
        /// Row index.
        step: usize,
        /// Field name.
        field: &'static str,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// A configuration value is out of its valid range.
    InvalidConfig {
        /// The option that is wrong.
        field: &'static str,
        /// What was expected.
        expected: &'static str,
    },
    /// A recorded noise source ran out of values.
    NoiseExhausted {
        /// Values consumed before the source ran dry.
        used: usize,
    },
    /// A model pack failed validation.
    Pack {
        /// The section at fault.
        section: Section,
        /// Byte offset in the pack of the record or field at fault.
        offset: u32,
        /// What is wrong.
        problem: PackProblem,
    },
    /// The arena given is smaller than the pack requires.
    ArenaTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        given: usize,
    },
    /// The sampler asked for a timestep the pack's step table does not have at that step.
    TimestepMismatch {
        /// Step row.
        step: usize,
        /// Timestep of that row in the pack.
        expected: u32,
        /// Timestep asked for.
        got: u32,
    },
    /// A class label is not below the number of classes.
    LabelOutOfRange {
        /// The label.
        label: u16,
        /// Classes of the model.
        classes: u16,
    },
    /// The sample size is zero or not a multiple of the denoiser's sample dimension.
    ShapeMismatch {
        /// Elements of one sample.
        dim: usize,
        /// Elements given.
        got: usize,
    },
    /// The pack uses an op kind that this engine was built without (see
    /// [`crate::ops::OpSet`]).
    OpNotLinked {
        /// The op kind.
        kind: OpKind,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::BufferSize {
                buffer,
                expected,
                got,
            } => write!(
                f,
                "buffer {buffer:?} has {got} elements, expected {expected}"
            ),
            Error::EmptySchedule => write!(f, "the step table has no rows"),
            Error::StepOutOfRange { step, steps } => {
                write!(f, "step {step} is outside the step table of {steps} rows")
            }
            Error::BadStepRow {
                step,
                field,
                reason,
            } => write!(f, "step table row {step}, field `{field}`: {reason}"),
            Error::InvalidConfig { field, expected } => {
                write!(f, "invalid `{field}`: expected {expected}")
            }
            Error::NoiseExhausted { used } => {
                write!(f, "recorded noise ran out after {used} values")
            }
            Error::Pack {
                section,
                offset,
                problem,
            } => write!(
                f,
                "model pack, section {section:?}, offset {offset}: {problem}"
            ),
            Error::ArenaTooSmall { needed, given } => write!(
                f,
                "arena too small: the pack needs {needed} bytes, {given} given"
            ),
            Error::TimestepMismatch {
                step,
                expected,
                got,
            } => write!(
                f,
                "step {step}: the pack was compiled for t = {expected}, the sampler asked for t = {got}"
            ),
            Error::LabelOutOfRange { label, classes } => {
                write!(f, "class label {label} is not below {classes}")
            }
            Error::ShapeMismatch { dim, got } => write!(
                f,
                "{got} elements is not a non-zero multiple of the sample dimension {dim}"
            ),
            Error::OpNotLinked { kind } => write!(
                f,
                "the pack uses op {}, which this engine's op set leaves out",
                kind.name()
            ),
        }
    }
}

impl core::error::Error for Error {}

impl fmt::Display for PackProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PackProblem::BadMagic => write!(f, "not an edgediff model pack (bad magic)"),
            PackProblem::UnsupportedVersion { found, supported } => write!(
                f,
                "format version {found}, this runtime reads version {supported}"
            ),
            PackProblem::Truncated { needed, available } => {
                write!(f, "truncated: needs {needed} bytes, {available} available")
            }
            PackProblem::LengthMismatch { header, actual } => {
                write!(f, "header says {header} bytes, {actual} given")
            }
            PackProblem::Crc { stored, computed } => write!(
                f,
                "CRC-32 mismatch (stored {stored:#010x}, computed {computed:#010x}): corrupted"
            ),
            PackProblem::Misaligned => write!(f, "misaligned offset"),
            PackProblem::OutOfBounds => write!(f, "range out of bounds"),
            PackProblem::Missing => write!(f, "required section missing"),
            PackProblem::Duplicate => write!(f, "section appears twice"),
            PackProblem::UnknownSection { code } => write!(f, "unknown section kind {code}"),
            PackProblem::UnknownOp { code } => write!(f, "unknown op kind {code}"),
            PackProblem::SizeMismatch { expected, got } => {
                write!(f, "size {got}, expected {expected}")
            }
            PackProblem::BadValue(what) => write!(f, "invalid value: {what}"),
        }
    }
}
