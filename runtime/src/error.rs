//! Typed errors of the runtime.

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
    /// The sample size is zero or not a multiple of the denoiser's sample dimension.
    ShapeMismatch {
        /// Elements of one sample.
        dim: usize,
        /// Elements given.
        got: usize,
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
            Error::ShapeMismatch { dim, got } => write!(
                f,
                "{got} elements is not a non-zero multiple of the sample dimension {dim}"
            ),
        }
    }
}

impl core::error::Error for Error {}
