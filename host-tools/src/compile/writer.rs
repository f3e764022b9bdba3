//! Serialises a quantized graph, its arena plan and a step table into a model pack, using the
//! runtime's layout constants (`edgediff_runtime::pack::layout`). The output is deterministic
//! byte for byte.

use super::planner::{ArenaPlan, plan_graph};
use crate::error::Error;
use crate::ir::{QGraph, QOp};
use edgediff_runtime::kernels::reference::MatMulGeometry;
use edgediff_runtime::pack::crc32::crc32;
use edgediff_runtime::pack::layout::{
    ALIGN, MAGIC, NO_TENSOR, OpKind, Section, VERSION, conv, directory, header, meta, op, qparam,
    schedule, tensor,
};
use edgediff_runtime::prediction::PredictionType;
use edgediff_runtime::sampler::StateSizes;
use edgediff_runtime::sampler::plan::Plan;
use edgediff_runtime::schedule::StepRow;

/// A written pack and the arena plan inside it.
#[derive(Clone, Debug)]
pub struct CompiledPack {
    /// The pack bytes.
    pub bytes: Vec<u8>,
    /// The arena plan.
    pub arena: ArenaPlan,
    /// Sampler state bytes for one sample.
    pub state_bytes: usize,
    /// Bytes of weights, biases, scales and tables (the BLOB section).
    pub blob_bytes: usize,
}

fn bad(msg: String) -> Error {
    Error::Compile(msg)
}

fn u16_of(v: usize, what: &str) -> Result<u16, Error> {
    u16::try_from(v).map_err(|_| bad(format!("{what} = {v} does not fit the pack's 16-bit field")))
}

/// Appends 4-byte-aligned items and returns their offsets.
#[derive(Default)]
struct Blob(Vec<u8>);

impl Blob {
    fn push(&mut self, bytes: impl IntoIterator<Item = u8>) -> u32 {
        while !self.0.len().is_multiple_of(4) {
            self.0.push(0);
        }
        let at = self.0.len() as u32;
        self.0.extend(bytes);
        at
    }
}

fn le_f32(v: &[f32]) -> impl Iterator<Item = u8> + '_ {
    v.iter().flat_map(|x| x.to_le_bytes())
}

/// Writes the pack of `g` sampled with `plan` (its step table and corrector steps) and
/// optional `clip_sample`.
pub fn write_pack(
    g: &QGraph,
    plan: &Plan,
    clip_sample: Option<f32>,
) -> Result<CompiledPack, Error> {
    let steps = plan.rows.len();
    let qrows = g.qparams.len();
    if qrows != 1 && qrows != steps {
        return Err(bad(format!(
            "{qrows} quantization rows; expected 1 or one per sampling step ({steps})"
        )));
    }
    let qcount = g.qparams.first().map_or(0, Vec::len);
    if g.qparams.iter().any(|r| r.len() != qcount) {
        return Err(bad("quantization rows differ in length".into()));
    }
    for (i, t) in g.tensors.iter().enumerate() {
        if t.qparam >= qcount || t.is_empty() {
            return Err(bad(format!(
                "tensor {i} `{}`: empty shape or quantization index {} out of {qcount}",
                t.name, t.qparam
            )));
        }
    }
    let arena = plan_graph(g);
    let sample_len: usize = g.sample_shape.iter().product();
    let slots = plan
        .rows
        .iter()
        .map(StepRow::history_slots)
        .max()
        .unwrap_or(0);
    let extra_history = slots.saturating_sub(1);
    let scratch = if plan.thresholding.is_some() {
        sample_len
    } else {
        0
    };
    let state_bytes = StateSizes::new(sample_len, slots, scratch).bytes();

    // META
    let mut m = vec![0u8; meta::SIZE];
    let put16 = |m: &mut Vec<u8>, o: usize, v: u16| m[o..o + 2].copy_from_slice(&v.to_le_bytes());
    let put32 = |m: &mut Vec<u8>, o: usize, v: u32| m[o..o + 4].copy_from_slice(&v.to_le_bytes());
    for (k, d) in g.sample_shape.iter().enumerate() {
        put16(
            &mut m,
            meta::SAMPLE_C + 2 * k,
            u16_of(*d, "sample dimension")?,
        );
    }
    m[meta::PREDICTION] = match g.prediction {
        PredictionType::Epsilon => 0,
        PredictionType::Sample => 1,
        PredictionType::VPrediction => 2,
        PredictionType::FlowVelocity => 3,
    };
    if let Some(t) = plan.thresholding {
        m[meta::FLAGS] |= meta::FLAG_THRESHOLD;
        put32(&mut m, meta::THRESHOLD_RATIO, t.ratio.to_bits());
        put32(&mut m, meta::THRESHOLD_MAX, t.max_value.to_bits());
    } else if let Some(r) = clip_sample {
        m[meta::FLAGS] |= meta::FLAG_CLIP;
        put32(&mut m, meta::CLIP_RANGE, r.to_bits());
    }
    put16(&mut m, meta::NUM_CLASSES, g.num_classes);
    m[meta::CORRECTOR_STEPS] = plan.corrector_steps;
    m[meta::EXTRA_HISTORY] = extra_history as u8;
    put16(&mut m, meta::STEPS, u16_of(steps, "steps")?);
    put16(
        &mut m,
        meta::QPARAM_ROWS,
        u16_of(qrows, "quantization rows")?,
    );
    put16(
        &mut m,
        meta::QPARAM_COUNT,
        u16_of(qcount, "quantization sets")?,
    );
    put16(
        &mut m,
        meta::TENSOR_COUNT,
        u16_of(g.tensors.len(), "tensors")?,
    );
    put16(&mut m, meta::OP_COUNT, u16_of(g.ops.len(), "ops")?);
    put16(&mut m, meta::INPUT, u16_of(g.input, "input tensor")?);
    put16(&mut m, meta::OUTPUT, u16_of(g.output, "output tensor")?);
    put32(&mut m, meta::GUIDANCE, g.guidance.to_bits());
    put32(
        &mut m,
        meta::MACS,
        u32::try_from(g.macs()).unwrap_or(u32::MAX),
    );

    // SCHEDULE
    let mut sched = Vec::with_capacity(steps * schedule::row_size(extra_history as u8));
    for r in &plan.rows {
        sched.extend(r.t.to_le_bytes());
        sched.extend(r.t_prev.to_le_bytes());
        sched.extend(le_f32(&r.coeffs()[..9 + extra_history]));
    }

    // TENSORS
    let mut tens = Vec::with_capacity(g.tensors.len() * tensor::SIZE);
    for (t, off) in g.tensors.iter().zip(&arena.offsets) {
        let mut rec = [0u8; tensor::SIZE];
        for (k, d) in t.shape.iter().enumerate() {
            rec[tensor::C + 2 * k..tensor::C + 2 * k + 2]
                .copy_from_slice(&u16_of(*d, &format!("dimension of `{}`", t.name))?.to_le_bytes());
        }
        rec[tensor::QPARAM..tensor::QPARAM + 2].copy_from_slice(&(t.qparam as u16).to_le_bytes());
        rec[tensor::ARENA_OFFSET..tensor::ARENA_OFFSET + 4]
            .copy_from_slice(&(*off as u32).to_le_bytes());
        tens.extend(rec);
    }

    // QPARAMS
    let mut qp = Vec::with_capacity(qrows * qcount * qparam::SIZE);
    for q in g.qparams.iter().flatten() {
        qp.extend(q.scale.to_le_bytes());
        qp.extend(q.zero_point.to_le_bytes());
    }

    // OPS and BLOB
    let mut blob = Blob::default();
    let mut ops = Vec::with_capacity(g.ops.len() * op::SIZE);
    for (i, o) in g.ops.iter().enumerate() {
        let mut rec = [0u8; op::SIZE];
        let mut in1 = NO_TENSOR;
        let mut in0 = NO_TENSOR;
        let mut attr = [0u16; 4];
        let mut offs = [0u32; 3];
        let mut flags = 0u8;
        let mut extra = 0u32;
        let kind = match o {
            QOp::Conv {
                input,
                weights,
                bias,
                w_scales,
                spec,
                relu,
                ..
            } => {
                in0 = u16_of(*input, "tensor")?;
                (attr, extra) = conv::encode(spec).ok_or_else(|| {
                    bad(format!(
                        "conv {spec:?}: a field does not fit its pack record (kernel, stride and \
                         padding up to 65535, output padding up to 255, width padding within \
                         127 of height padding, dilation and groups up to 256)"
                    ))
                })?;
                offs = [
                    blob.push(weights.iter().map(|w| *w as u8)),
                    blob.push(bias.iter().flat_map(|b| b.to_le_bytes())),
                    blob.push(le_f32(w_scales)),
                ];
                if *relu {
                    flags |= op::FLAG_RELU;
                }
                o.kind()
            }
            QOp::Add { a, b, .. } | QOp::Mul { a, b, .. } | QOp::Concat { a, b, .. } => {
                in0 = u16_of(*a, "tensor")?;
                in1 = u16_of(*b, "tensor")?;
                o.kind()
            }
            QOp::Upsample { input, factor, .. } => {
                in0 = u16_of(*input, "tensor")?;
                // Width factor only when it differs (0: the same; packs before 1-D signals).
                let [fh, fw] = *factor;
                attr[0] = u16_of(fh, "factor")?;
                attr[1] = if fw == fh { 0 } else { u16_of(fw, "factor")? };
                OpKind::Upsample
            }
            QOp::Lut { input, tables, .. } => {
                in0 = u16_of(*input, "tensor")?;
                if tables.len() != qrows {
                    return Err(bad(format!(
                        "op {i} (Lut): {} tables, expected one per quantization row ({qrows})",
                        tables.len()
                    )));
                }
                offs[0] = blob.push(tables.iter().flatten().map(|v| *v as u8));
                OpKind::Lut
            }
            QOp::GroupNorm {
                input,
                groups,
                gamma,
                beta,
                eps,
                ..
            } => {
                in0 = u16_of(*input, "tensor")?;
                attr[0] = u16_of(*groups, "groups")?;
                offs[0] = blob.push(le_f32(gamma));
                offs[1] = blob.push(le_f32(beta));
                extra = eps.to_bits();
                OpKind::GroupNorm
            }
            QOp::LayerNorm {
                input,
                n,
                gamma,
                beta,
                eps,
                center,
                ..
            } => {
                in0 = u16_of(*input, "tensor")?;
                attr[0] = u16_of(*n, "layer norm axis")?;
                offs[0] = blob.push(le_f32(gamma));
                offs[1] = blob.push(le_f32(beta));
                extra = eps.to_bits();
                if !center {
                    flags |= op::FLAG_RMS;
                }
                OpKind::LayerNorm
            }
            QOp::Move { input, how, .. } => {
                in0 = u16_of(*input, "tensor")?;
                (attr, extra) = how.record().ok_or_else(|| {
                    bad(format!(
                        "op {i} ({}): {how:?} has a size above 65,535",
                        o.name()
                    ))
                })?;
                o.kind()
            }
            QOp::MatMul { a, b, geometry, .. } => {
                in0 = u16_of(*a, "tensor")?;
                in1 = u16_of(*b, "tensor")?;
                let MatMulGeometry { batch, m, k, n } = *geometry;
                attr = [
                    u16_of(batch, "matmul batch")?,
                    u16_of(m, "matmul rows")?,
                    u16_of(k, "matmul depth")?,
                    u16_of(n, "matmul columns")?,
                ];
                OpKind::MatMul
            }
            QOp::Softmax {
                input, n, table, ..
            } => {
                in0 = u16_of(*input, "tensor")?;
                attr[0] = u16_of(*n, "softmax axis")?;
                offs[0] = blob.push(table.iter().flat_map(|v| v.to_le_bytes()));
                OpKind::Softmax
            }
            QOp::Embed { table, by, .. } => {
                offs[0] = blob.push(table.iter().map(|v| *v as u8));
                by.op_kind()
            }
        };
        rec[op::KIND] = kind as u8;
        rec[op::FLAGS] = flags;
        rec[op::IN0..op::IN0 + 2].copy_from_slice(&in0.to_le_bytes());
        rec[op::IN1..op::IN1 + 2].copy_from_slice(&in1.to_le_bytes());
        rec[op::OUT..op::OUT + 2].copy_from_slice(&u16_of(o.output(), "tensor")?.to_le_bytes());
        for (k, a) in attr.iter().enumerate() {
            rec[op::ATTR + 2 * k..op::ATTR + 2 * k + 2].copy_from_slice(&a.to_le_bytes());
        }
        for (k, b) in offs.iter().enumerate() {
            rec[op::BLOB + 4 * k..op::BLOB + 4 * k + 4].copy_from_slice(&b.to_le_bytes());
        }
        rec[op::EXTRA..op::EXTRA + 4].copy_from_slice(&extra.to_le_bytes());
        ops.extend(rec);
    }
    let blob_bytes = blob.0.len();

    // Assemble.
    let sections: [(Section, &[u8]); 6] = [
        (Section::Meta, &m),
        (Section::Schedule, &sched),
        (Section::Tensors, &tens),
        (Section::QParams, &qp),
        (Section::Ops, &ops),
        (Section::Blob, &blob.0),
    ];
    let mut out = vec![0u8; header::SIZE + sections.len() * directory::ENTRY];
    for (k, (section, body)) in sections.iter().enumerate() {
        while !out.len().is_multiple_of(ALIGN) {
            out.push(0);
        }
        let e = header::SIZE + k * directory::ENTRY;
        let off = out.len() as u32;
        out[e..e + 4].copy_from_slice(&(*section as u32).to_le_bytes());
        out[e + 4..e + 8].copy_from_slice(&off.to_le_bytes());
        out[e + 8..e + 12].copy_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(body);
    }
    let total = out.len() as u32;
    out[header::MAGIC..header::MAGIC + 4].copy_from_slice(&MAGIC);
    out[header::VERSION..header::VERSION + 2].copy_from_slice(&VERSION.to_le_bytes());
    out[header::HEADER_SIZE..header::HEADER_SIZE + 2]
        .copy_from_slice(&(header::SIZE as u16).to_le_bytes());
    out[header::TOTAL_LEN..header::TOTAL_LEN + 4].copy_from_slice(&total.to_le_bytes());
    out[header::SECTION_COUNT..header::SECTION_COUNT + 2]
        .copy_from_slice(&(sections.len() as u16).to_le_bytes());
    out[header::ARENA_BYTES..header::ARENA_BYTES + 4]
        .copy_from_slice(&(arena.total as u32).to_le_bytes());
    out[header::STATE_BYTES..header::STATE_BYTES + 4]
        .copy_from_slice(&(state_bytes as u32).to_le_bytes());
    let crc = crc32(&out[header::CRC_START..]);
    out[header::CRC..header::CRC + 4].copy_from_slice(&crc.to_le_bytes());
    // The device's own validator has the last word: a layer whose int32 accumulator could
    // overflow (taps * 255 * 127 or |bias| above 2^30), or anything else the reader would
    // refuse, is an error here rather than a pack the board rejects.
    if let Err(e) = edgediff_runtime::pack::Pack::parse(&out) {
        return Err(bad(format!("the compiled pack does not validate: {e}")));
    }
    Ok(CompiledPack {
        bytes: out,
        arena,
        state_bytes,
        blob_bytes,
    })
}
