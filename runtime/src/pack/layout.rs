//! Byte layout of a model pack: every offset, size and code the reader and the host writer
//! share. All integers and floats are little-endian. `docs/pack-format.md` describes the same
//! layout in tables.

/// The first four bytes of every pack.
pub const MAGIC: [u8; 4] = *b"EDGD";
/// The format version this runtime reads.
pub const VERSION: u16 = 1;
/// Alignment of every section and of every blob offset.
pub const ALIGN: usize = 16;
/// Alignment of arena offsets.
pub const ARENA_ALIGN: usize = 4;
/// Marks an unused tensor slot in an op record.
pub const NO_TENSOR: u16 = 0xffff;

/// The fixed header.
pub mod header {
    /// Header size in bytes.
    pub const SIZE: usize = 32;
    /// `[u8; 4]` magic.
    pub const MAGIC: usize = 0;
    /// `u16` format version.
    pub const VERSION: usize = 4;
    /// `u16` header size.
    pub const HEADER_SIZE: usize = 6;
    /// `u32` total pack length.
    pub const TOTAL_LEN: usize = 8;
    /// `u32` CRC-32 (IEEE 802.3) of bytes `CRC_START..total_len`.
    pub const CRC: usize = 12;
    /// First byte covered by the CRC.
    pub const CRC_START: usize = 16;
    /// `u16` number of directory entries.
    pub const SECTION_COUNT: usize = 16;
    /// `u32` arena bytes the graph needs.
    pub const ARENA_BYTES: usize = 20;
    /// `u32` sampler state bytes for one sample (x_t, model output, history).
    pub const STATE_BYTES: usize = 24;
}

/// The section directory, right after the header: one entry per section.
pub mod directory {
    /// Entry size: `u32` kind, `u32` offset, `u32` length, `u32` reserved (0).
    pub const ENTRY: usize = 16;
}

/// Section kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u32)]
pub enum Section {
    /// The fixed header and directory (used in error reports).
    Header = 0,
    /// Model and sampler description.
    Meta = 1,
    /// The sampler's step table.
    Schedule = 2,
    /// Activation tensors.
    Tensors = 3,
    /// Activation quantization parameters, per step row.
    QParams = 4,
    /// The op list.
    Ops = 5,
    /// Weights, biases, scales, tables.
    Blob = 6,
}

impl Section {
    /// The sections every pack has, in directory order.
    pub const REQUIRED: [Section; 6] = [
        Section::Meta,
        Section::Schedule,
        Section::Tensors,
        Section::QParams,
        Section::Ops,
        Section::Blob,
    ];

    /// The section with this code.
    pub fn from_code(code: u32) -> Option<Self> {
        Self::REQUIRED.into_iter().find(|s| *s as u32 == code)
    }
}

/// The META section (fixed size).
pub mod meta {
    /// Section size.
    pub const SIZE: usize = 48;
    /// `u16` channels of one sample.
    pub const SAMPLE_C: usize = 0;
    /// `u16` height of one sample.
    pub const SAMPLE_H: usize = 2;
    /// `u16` width of one sample.
    pub const SAMPLE_W: usize = 4;
    /// `u8` prediction type: 0 epsilon, 1 sample (x0), 2 v, 3 flow velocity.
    pub const PREDICTION: usize = 6;
    /// `u8` flags: bit 0 = clip x0 to `CLIP_RANGE`; bit 1 = dynamic thresholding of x0
    /// (`THRESHOLD_RATIO`, `THRESHOLD_MAX`).
    pub const FLAGS: usize = 7;
    /// `u16` number of classes (0: unconditional).
    pub const NUM_CLASSES: usize = 8;
    /// `u8` Langevin corrector steps per sampling step.
    pub const CORRECTOR_STEPS: usize = 10;
    /// `u8` history coefficients per step row beyond `c_hist` (0 to 2: `c_hist2`,
    /// `c_hist3`); 0 in packs whose sampler keeps at most one earlier prediction.
    pub const EXTRA_HISTORY: usize = 11;
    /// `u16` rows of the step table.
    pub const STEPS: usize = 12;
    /// `u16` rows of the quantization table: 1 (static) or `STEPS` (per step).
    pub const QPARAM_ROWS: usize = 14;
    /// `u16` quantization parameter sets per row.
    pub const QPARAM_COUNT: usize = 16;
    /// `u16` tensors.
    pub const TENSOR_COUNT: usize = 18;
    /// `u16` ops.
    pub const OP_COUNT: usize = 20;
    /// `u16` index of the input tensor (the quantized `x_t`).
    pub const INPUT: usize = 22;
    /// `u16` index of the output tensor (the network output).
    pub const OUTPUT: usize = 24;
    /// `f32` clip range.
    pub const CLIP_RANGE: usize = 28;
    /// `f32` classifier-free guidance scale (1: none).
    pub const GUIDANCE: usize = 32;
    /// `u32` multiply-accumulates per network evaluation.
    pub const MACS: usize = 36;
    /// `f32` dynamic thresholding: the quantile of `|x0|`, in (0, 1].
    pub const THRESHOLD_RATIO: usize = 40;
    /// `f32` dynamic thresholding: the largest threshold, >= 1.
    pub const THRESHOLD_MAX: usize = 44;
    /// Flag bit: clip x0.
    pub const FLAG_CLIP: u8 = 1;
    /// Flag bit: dynamic thresholding of x0.
    pub const FLAG_THRESHOLD: u8 = 2;
}

/// The SCHEDULE section: `STEPS` rows of [`crate::schedule::StepRow`].
pub mod schedule {
    /// Base row size: `u32 t`, `i32 t_prev`, then the nine `f32` coefficients from `alpha`
    /// to `corr_noise` in field order.
    pub const ROW: usize = 44;

    /// Row size with `extra_history` more `f32` coefficients (`c_hist2`, `c_hist3`) after
    /// the nine.
    pub const fn row_size(extra_history: u8) -> usize {
        ROW + 4 * extra_history as usize
    }
}

/// The TENSORS section: one record per activation tensor (int8, `[c, h, w]`).
pub mod tensor {
    /// Record size.
    pub const SIZE: usize = 16;
    /// `u16` channels.
    pub const C: usize = 0;
    /// `u16` height.
    pub const H: usize = 2;
    /// `u16` width.
    pub const W: usize = 4;
    /// `u16` quantization parameter set.
    pub const QPARAM: usize = 6;
    /// `u32` byte offset in the arena.
    pub const ARENA_OFFSET: usize = 8;
}

/// The QPARAMS section: `QPARAM_ROWS x QPARAM_COUNT` records.
pub mod qparam {
    /// Record size: `f32` scale, `i32` zero point.
    pub const SIZE: usize = 8;
}

/// The OPS section: one fixed-size record per op, executed in order.
pub mod op {
    /// Record size.
    pub const SIZE: usize = 32;
    /// `u8` op kind.
    pub const KIND: usize = 0;
    /// `u8` flags (bit 0: fused ReLU for conv).
    pub const FLAGS: usize = 1;
    /// `u16` first input tensor.
    pub const IN0: usize = 2;
    /// `u16` second input tensor or [`super::NO_TENSOR`].
    pub const IN1: usize = 4;
    /// `u16` output tensor.
    pub const OUT: usize = 6;
    /// Four `u16` attributes (meaning per kind).
    pub const ATTR: usize = 8;
    /// Three `u32` blob offsets (meaning per kind).
    pub const BLOB: usize = 16;
    /// `u32` extra word (an `f32` for GroupNorm's epsilon).
    pub const EXTRA: usize = 28;
    /// Flag bit: ReLU fused into a conv.
    pub const FLAG_RELU: u8 = 1;
    /// Flag of a LayerNorm op: RMSNorm (no centring).
    pub const FLAG_RMS: u8 = 2;
}

/// The fields of a conv record ([`OpKind::Conv`], [`OpKind::ConvTranspose`]): attr
/// `[k_h, k_w, stride, pad_h]`, and an extra word that is zero for a dense conv with the same
/// padding on both axes (every pack before these fields existed):
/// - bits 0..8: output padding (a transposed conv's);
/// - bits 8..16: `pad_w - pad_h` (`i8`);
/// - bits 16..24: `dilation - 1`;
/// - bits 24..32: `groups - 1`.
pub mod conv {
    use crate::kernels::reference::ConvSpec;

    /// The record fields `(attr, extra)` of `spec`, or `None` when a field does not fit.
    pub fn encode(spec: &ConvSpec) -> Option<([u16; 4], u32)> {
        let step = if spec.up > 1 { spec.up } else { spec.stride };
        let attr = [spec.kernel[0], spec.kernel[1], step, spec.pad[0]];
        let attr = attr.map(|v| u16::try_from(v).ok());
        let delta = i8::try_from(spec.pad[1] as i64 - spec.pad[0] as i64).ok()?;
        let byte = |v: usize| u8::try_from(v).ok().map(u32::from);
        let extra = byte(spec.out_pad)?
            | u32::from(delta as u8) << 8
            | byte(spec.dilation.checked_sub(1)?)? << 16
            | byte(spec.groups.checked_sub(1)?)? << 24;
        Some(([attr[0]?, attr[1]?, attr[2]?, attr[3]?], extra))
    }

    /// The conv of a record (`transposed`: a [`super::OpKind::ConvTranspose`]), or `None`
    /// when the width padding would be negative.
    pub fn decode(attr: [u16; 4], extra: u32, transposed: bool) -> Option<ConvSpec> {
        let [k_h, k_w, step, pad_h] = attr.map(usize::from);
        let [out_pad, delta, dilation, groups] = extra.to_le_bytes();
        let pad_w = pad_h.checked_add_signed(isize::from(delta as i8))?;
        Some(ConvSpec {
            kernel: [k_h, k_w],
            stride: if transposed { 1 } else { step },
            pad: [pad_h, pad_w],
            dilation: usize::from(dilation) + 1,
            groups: usize::from(groups) + 1,
            up: if transposed { step } else { 1 },
            out_pad: usize::from(out_pad),
        })
    }
}

/// Op kinds and their fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum OpKind {
    /// Conv2d / Conv1d / Linear. attr and extra: see [`conv`]. blob: weights
    /// `[out_c, in_c / groups, k_h, k_w]` i8, bias `out_c` i32, weight scales `out_c` f32.
    Conv = 1,
    /// Requantizing add; `in1` has the shape of `in0` or `[c, 1, 1]` (broadcast).
    Add = 2,
    /// Channel concat of `in0` and `in1`, each requantized to the output's parameters.
    Concat = 3,
    /// Nearest upsampling; attr0: height factor, attr1: width factor (0: the height factor).
    Upsample = 4,
    /// Lookup-table activation; blob0: `QPARAM_ROWS` tables of 256 bytes.
    Lut = 5,
    /// GroupNorm; attr0: groups; blob: gamma `c` f32, beta `c` f32; extra: eps (f32 bits).
    GroupNorm = 6,
    /// Per-step embedding: copies row `step` of the `STEPS x size` int8 table at blob0.
    StepEmbed = 7,
    /// Class embedding: copies row `label` of the `(NUM_CLASSES + 1) x size` int8 table at
    /// blob0; the last row is the unconditional (null) label.
    ClassEmbed = 8,
    /// Joint step and class embedding (a tensor computed from both the timestep and the
    /// label): copies row `step * (NUM_CLASSES + 1) + label` of the
    /// `STEPS x (NUM_CLASSES + 1) x size` int8 table at blob0.
    StepClassEmbed = 9,
    /// Requantizing multiply `Q(DQ(in0) * DQ(in1))`; `in1` has the shape of `in0` or
    /// `[c, 1, 1]` (scale-shift modulation, gating).
    Mul = 10,
    /// Axis permutation (Transpose; Reshape is the identity); attr: the input viewed as
    /// `[d0, d1, d2, d3]`; extra: the permutation, output axis `i` from input axis
    /// `(extra >> 8 i) & 0xff`. A copy: the output keeps the input's quantization.
    Transpose = 11,
    /// Slice along one axis; attr0: the axis length, attr1: start, attr2: length taken;
    /// extra: elements per index of the axis (the input is `[outer, attr0, extra]`). A copy.
    Slice = 12,
    /// Requantizing product of two activations `[b, m, k] x [b, k, n]`; attr: b, m, k, n.
    MatMul = 13,
    /// Softmax over the last axis (attr0 entries); blob0: the exponential table, 256 u16.
    /// The output quantization is scale 1/256, zero point -128.
    Softmax = 14,
    /// ConvTranspose2d as the convolution of the input stuffed with `stride - 1` zeros; attr
    /// and extra: see [`conv`] (the stride field holds the stuffing, the padding is that
    /// convolution's, `k - 1 - padding`); blobs as [`OpKind::Conv`], the weights flipped to
    /// `[out_c, in_c, k_h, k_w]`.
    ConvTranspose = 15,
    /// LayerNorm over the last axis (attr0 = its length n; flag [`op::FLAG_RMS`]: RMSNorm);
    /// blob: gamma `n` f32, beta `n` f32; extra: eps (f32 bits).
    LayerNorm = 16,
    /// Max pooling per channel; attr and extra as [`conv`]'s (kernel, stride, padding,
    /// dilation; groups and output padding 0); padding taps are skipped. A selection: the
    /// output keeps the input's quantization.
    MaxPool = 17,
    /// A constant tensor (a learned position embedding): copies the one-row int8 table at
    /// blob0.
    ConstEmbed = 18,
}

impl OpKind {
    /// The op kind with this code.
    pub fn from_code(code: u8) -> Option<Self> {
        use OpKind::*;
        [
            Conv,
            Add,
            Concat,
            Upsample,
            Lut,
            GroupNorm,
            StepEmbed,
            ClassEmbed,
            StepClassEmbed,
            Mul,
            Transpose,
            Slice,
            MatMul,
            Softmax,
            ConvTranspose,
            LayerNorm,
            MaxPool,
            ConstEmbed,
        ]
        .into_iter()
        .find(|k| *k as u8 == code)
    }

    /// The op's name, for reports and profiles.
    pub const fn name(self) -> &'static str {
        match self {
            OpKind::Conv => "Conv",
            OpKind::Add => "Add",
            OpKind::Concat => "Concat",
            OpKind::Upsample => "Upsample",
            OpKind::Lut => "Lut",
            OpKind::GroupNorm => "GroupNorm",
            OpKind::StepEmbed => "StepEmbed",
            OpKind::ClassEmbed => "ClassEmbed",
            OpKind::StepClassEmbed => "StepClassEmbed",
            OpKind::Mul => "Mul",
            OpKind::Transpose => "Transpose",
            OpKind::Slice => "Slice",
            OpKind::MatMul => "MatMul",
            OpKind::Softmax => "Softmax",
            OpKind::ConvTranspose => "ConvTranspose",
            OpKind::LayerNorm => "LayerNorm",
            OpKind::MaxPool => "MaxPool",
            OpKind::ConstEmbed => "ConstEmbed",
        }
    }

    /// The index of an embedding op, `None` for the other kinds.
    pub fn embed_index(self) -> Option<EmbedIndex> {
        match self {
            OpKind::StepEmbed => Some(EmbedIndex::Step),
            OpKind::ClassEmbed => Some(EmbedIndex::Class),
            OpKind::StepClassEmbed => Some(EmbedIndex::StepClass),
            OpKind::ConstEmbed => Some(EmbedIndex::Const),
            _ => None,
        }
    }
}

/// What selects the row of an embedding table: the tables hold a network's timestep and
/// label paths, evaluated on the host for every sampling step and label, and its constant
/// tensors (one row).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EmbedIndex {
    /// One row, whatever the step and label.
    Const,
    /// One row per sampling step.
    Step,
    /// One row per label, `NUM_CLASSES + 1` rows (the last the null label).
    Class,
    /// One row per (step, label) pair, step-major.
    StepClass,
}

impl EmbedIndex {
    /// Rows of the table for `steps` sampling steps and `classes` classes.
    pub const fn rows(self, steps: usize, classes: u16) -> usize {
        let labels = classes as usize + 1;
        match self {
            EmbedIndex::Const => 1,
            EmbedIndex::Step => steps,
            EmbedIndex::Class => labels,
            EmbedIndex::StepClass => steps.saturating_mul(labels),
        }
    }

    /// The row for sampling step `step` and `label`.
    pub const fn row(self, step: usize, label: u16, classes: u16) -> usize {
        match self {
            EmbedIndex::Const => 0,
            EmbedIndex::Step => step,
            EmbedIndex::Class => label as usize,
            EmbedIndex::StepClass => step
                .saturating_mul(classes as usize + 1)
                .saturating_add(label as usize),
        }
    }

    /// The sampling step of `row`, or `None` when the row does not depend on the step.
    pub const fn step_of(self, row: usize, classes: u16) -> Option<usize> {
        match self {
            EmbedIndex::Step => Some(row),
            EmbedIndex::Const | EmbedIndex::Class => None,
            EmbedIndex::StepClass => Some(row / (classes as usize + 1)),
        }
    }

    /// The op kind that carries a table of this index.
    pub const fn op_kind(self) -> OpKind {
        match self {
            EmbedIndex::Const => OpKind::ConstEmbed,
            EmbedIndex::Step => OpKind::StepEmbed,
            EmbedIndex::Class => OpKind::ClassEmbed,
            EmbedIndex::StepClass => OpKind::StepClassEmbed,
        }
    }
}

/// Reads the arena size from a pack's header, usable in `const` context to size a `static`
/// buffer: `static mut ARENA: [i8; arena_bytes(PACK)] = ...`. Returns 0 when the bytes are too
/// short or do not start with the magic; the full check is [`super::Pack::parse`].
pub const fn arena_bytes(pack: &[u8]) -> usize {
    if pack.len() < header::SIZE
        || pack[0] != MAGIC[0]
        || pack[1] != MAGIC[1]
        || pack[2] != MAGIC[2]
        || pack[3] != MAGIC[3]
    {
        return 0;
    }
    let o = header::ARENA_BYTES;
    u32::from_le_bytes([pack[o], pack[o + 1], pack[o + 2], pack[o + 3]]) as usize
}

#[cfg(test)]
mod tests {
    use super::conv;
    use crate::kernels::reference::ConvSpec;

    #[test]
    fn conv_records_round_trip_and_dense_convs_keep_a_zero_extra_word() {
        let dense = ConvSpec::new([3, 3], 2, 1);
        assert_eq!(conv::encode(&dense), Some(([3, 3, 2, 1], 0)));
        let specs = [
            dense,
            ConvSpec {
                pad: [0, 3],
                dilation: 2,
                groups: 16,
                ..ConvSpec::new([1, 7], 1, 0)
            },
            ConvSpec {
                pad: [5, 1],
                groups: 256,
                ..ConvSpec::new([3, 3], 3, 0)
            },
            ConvSpec::stuffed([4, 4], 2, 2, 1),
        ];
        for s in specs {
            let (attr, extra) = conv::encode(&s).unwrap();
            assert_eq!(conv::decode(attr, extra, s.up > 1), Some(s));
        }
        // Fields that do not fit are refused, not truncated.
        for bad in [
            ConvSpec {
                groups: 257,
                ..dense
            },
            ConvSpec {
                pad: [0, 200],
                ..dense
            },
            ConvSpec {
                dilation: 0,
                ..dense
            },
        ] {
            assert_eq!(conv::encode(&bad), None, "{bad:?}");
        }
        // A negative width padding is refused on reading.
        assert_eq!(conv::decode([3, 3, 1, 0], 0xff << 8, false), None);
    }
}
