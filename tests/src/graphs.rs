//! Small quantized graphs with random weights and calibrated activation ranges, for engine
//! and pack tests.

use crate::simulate::evaluate;
use edgediff::ir::Activation;
use edgediff::ir::{Movement, QGraph, QOp, QTensor};
use edgediff_runtime::kernels::quant::QParams;
use edgediff_runtime::kernels::reference::{ConvSpec, MatMulGeometry, SliceGeometry, softmax};
use edgediff_runtime::noise::{GaussianNoise, NoiseSource};
use edgediff_runtime::pack::layout::EmbedIndex;
use edgediff_runtime::prediction::PredictionType;

/// A deterministic source of test weights.
pub struct Weights(GaussianNoise);

impl Weights {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        Self(GaussianNoise::new(seed))
    }

    /// `n` standard normals.
    pub fn normals(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.0.next_normal().unwrap()).collect()
    }

    /// A conv `io = [input, output]`, `dims = [in_c, out_c, k, stride, pad]`, with symmetric
    /// per-channel int8 weights of He-like scale.
    pub fn conv(&mut self, io: [usize; 2], dims: [usize; 5], relu: bool) -> QOp {
        let [in_c, out_c, k, stride, pad] = dims;
        self.conv_with(io, [in_c, out_c], ConvSpec::new([k, k], stride, pad), relu)
    }

    /// A conv `io = [input, output]` of `spec` from `in_c` to `out_c` channels, weights as
    /// [`Self::conv`]'s.
    pub fn conv_with(
        &mut self,
        io: [usize; 2],
        [in_c, out_c]: [usize; 2],
        spec: ConvSpec,
        relu: bool,
    ) -> QOp {
        let [input, output] = io;
        let taps = in_c / spec.groups * spec.kernel[0] * spec.kernel[1];
        let w = self.normals(out_c * taps);
        let mut weights = Vec::with_capacity(w.len());
        let mut w_scales = Vec::with_capacity(out_c);
        for row in w.chunks(taps) {
            let max = row.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
            let s = max / 127.0 * (1.0 / (taps as f32).sqrt()) * 1.5;
            w_scales.push(s);
            for v in row {
                weights.push((v / max * 127.0).round() as i8);
            }
        }
        let bias = self
            .normals(out_c)
            .iter()
            .map(|b| (b * 40.0) as i32)
            .collect();
        QOp::Conv {
            input,
            output,
            weights,
            bias,
            w_scales,
            spec,
            relu,
        }
    }

    /// A transposed conv (stride `up`, padding `pad`, output padding `out_pad`), held as its
    /// equivalent conv: `dims = [in_c, out_c, k, up, pad, out_pad]`.
    pub fn conv_transpose(&mut self, io: [usize; 2], dims: [usize; 6]) -> QOp {
        let [in_c, out_c, k, up, pad, out_pad] = dims;
        let spec = ConvSpec::stuffed([k, k], up, k - 1 - pad, out_pad);
        self.conv_with(io, [in_c, out_c], spec, false)
    }
}

fn tensor(name: &str, shape: [usize; 3], qparam: usize) -> QTensor {
    QTensor {
        name: name.into(),
        shape,
        qparam,
    }
}

/// Sets every tensor's quantization from float ranges seen on `samples` random inputs at each
/// step, then rebuilds the activation tables. `per_step` keeps one row per step.
pub fn calibrate(g: &mut QGraph, steps: usize, per_step: bool, seed: u64) {
    let n = g.tensors.len();
    let rows = if per_step { steps } else { 1 };
    let mut ranges = vec![vec![(0.0f64, 0.0f64); n]; rows];
    let mut w = Weights::new(seed);
    let sample: usize = g.sample_shape.iter().product();
    for step in 0..steps {
        for s in 0..4 {
            let x: Vec<f32> = w.normals(sample);
            let label = s % (g.num_classes as usize + 1);
            let vals = evaluate(g, &x, step, label, false);
            let r = if per_step { step } else { 0 };
            for (t, v) in vals.iter().enumerate() {
                for x in v {
                    ranges[r][t].0 = ranges[r][t].0.min(*x);
                    ranges[r][t].1 = ranges[r][t].1.max(*x);
                }
            }
        }
    }
    g.qparams = ranges
        .iter()
        .map(|row| {
            row.iter()
                .map(|(lo, hi)| {
                    let scale = ((hi - lo) / 255.0).max(1e-4) as f32;
                    let zero_point =
                        (-128.0 - lo / scale as f64).round().clamp(-128.0, 127.0) as i32;
                    QParams { scale, zero_point }
                })
                .collect()
        })
        .collect();
    for t in 0..n {
        g.tensors[t].qparam = t;
    }
    // Copies and selections keep their input's quantization on the device (as the quantizer
    // sets it).
    for op in &g.ops {
        if let QOp::Move { input, output, .. } | QOp::Upsample { input, output, .. } = op {
            for row in &mut g.qparams {
                row[*output] = row[*input];
            }
        }
    }
    let qparams = g.qparams.clone();
    for op in &mut g.ops {
        if let QOp::Lut {
            input,
            output,
            tables,
        } = op
        {
            *tables = qparams
                .iter()
                .map(|row| Activation::Silu.table(row[*input], row[*output]))
                .collect();
        }
    }
}

fn embed_table(w: &mut Weights, rows: usize, len: usize, q: QParams) -> Vec<i8> {
    w.normals(rows * len)
        .iter()
        .map(|v| q.quantize(*v))
        .collect()
}

/// An MLP denoiser for 2-D data: linear 2->32, + step embedding, SiLU, linear 32->32 with
/// fused ReLU, linear 32->2.
pub fn mlp(steps: usize, per_step: bool, seed: u64) -> QGraph {
    let mut w = Weights::new(seed);
    let emb_q = QParams {
        scale: 4.0 / 127.0,
        zero_point: 0,
    };
    let tensors = vec![
        tensor("x", [2, 1, 1], 0),
        tensor("h1", [32, 1, 1], 0),
        tensor("temb", [32, 1, 1], 0),
        tensor("h1t", [32, 1, 1], 0),
        tensor("a1", [32, 1, 1], 0),
        tensor("h2", [32, 1, 1], 0),
        tensor("eps", [2, 1, 1], 0),
    ];
    let ops = vec![
        w.conv([0, 1], [2, 32, 1, 1, 0], false),
        QOp::Embed {
            output: 2,
            table: embed_table(&mut w, steps, 32, emb_q),
            by: EmbedIndex::Step,
        },
        QOp::Add {
            a: 1,
            b: 2,
            output: 3,
        },
        QOp::Lut {
            input: 3,
            output: 4,
            tables: vec![],
        },
        w.conv([4, 5], [32, 32, 1, 1, 0], true),
        w.conv([5, 6], [32, 2, 1, 1, 0], false),
    ];
    let mut g = QGraph {
        sample_shape: [2, 1, 1],
        prediction: PredictionType::Epsilon,
        num_classes: 0,
        guidance: 1.0,
        tensors,
        qparams: vec![vec![emb_q; 7]],
        ops,
        input: 0,
        output: 6,
    };
    calibrate_with_fixed(&mut g, steps, per_step, seed, &[2], emb_q);
    // The fused ReLU's output grid covers negative values too (zero point above -128), so the
    // clamp at the zero point does something, on the runtime and in the int8 ONNX alike.
    for row in &mut g.qparams {
        row[5] = QParams {
            scale: row[5].scale * 1.5,
            zero_point: -43,
        };
    }
    g
}

/// A small conditional conv network on 8x8 images: conv 3x3, GroupNorm, SiLU, strided conv,
/// class embedding, upsample, skip concat, 1x1 conv, residual add, conv 3x3 out.
pub fn conv_net(steps: usize, per_step: bool, seed: u64) -> QGraph {
    let mut w = Weights::new(seed);
    let emb_q = QParams {
        scale: 3.0 / 127.0,
        zero_point: 0,
    };
    let tensors = vec![
        tensor("x", [1, 8, 8], 0),     // 0
        tensor("h1", [8, 8, 8], 0),    // 1
        tensor("n1", [8, 8, 8], 0),    // 2
        tensor("a1", [8, 8, 8], 0),    // 3
        tensor("d1", [16, 4, 4], 0),   // 4
        tensor("cemb", [16, 1, 1], 0), // 5
        tensor("d1c", [16, 4, 4], 0),  // 6
        tensor("u1", [16, 8, 8], 0),   // 7
        tensor("cat", [24, 8, 8], 0),  // 8
        tensor("m1", [8, 8, 8], 0),    // 9
        tensor("r1", [8, 8, 8], 0),    // 10
        tensor("eps", [1, 8, 8], 0),   // 11
    ];
    let gamma: Vec<f32> = w.normals(8).iter().map(|v| 1.0 + 0.2 * v).collect();
    let beta: Vec<f32> = w.normals(8).iter().map(|v| 0.1 * v).collect();
    let ops = vec![
        w.conv([0, 1], [1, 8, 3, 1, 1], false),
        QOp::GroupNorm {
            input: 1,
            output: 2,
            groups: 4,
            gamma,
            beta,
            eps: 1e-5,
        },
        QOp::Lut {
            input: 2,
            output: 3,
            tables: vec![],
        },
        w.conv([3, 4], [8, 16, 3, 2, 1], false),
        QOp::Embed {
            output: 5,
            table: embed_table(&mut w, 11, 16, emb_q),
            by: EmbedIndex::Class,
        },
        QOp::Add {
            a: 4,
            b: 5,
            output: 6,
        },
        QOp::Upsample {
            input: 6,
            output: 7,
            factor: [2, 2],
        },
        QOp::Concat {
            a: 7,
            b: 1,
            output: 8,
        },
        w.conv([8, 9], [24, 8, 1, 1, 0], false),
        QOp::Add {
            a: 9,
            b: 1,
            output: 10,
        },
        w.conv([10, 11], [8, 1, 3, 1, 1], false),
    ];
    let mut g = QGraph {
        sample_shape: [1, 8, 8],
        prediction: PredictionType::Epsilon,
        num_classes: 10,
        guidance: 2.0,
        tensors,
        qparams: vec![vec![emb_q; 12]],
        ops,
        input: 0,
        output: 11,
    };
    calibrate_with_fixed(&mut g, steps, per_step, seed, &[5], emb_q);
    g
}

/// Calibrates, then restores the fixed parameters of embedding tensors (their tables were
/// quantized with them).
fn calibrate_with_fixed(
    g: &mut QGraph,
    steps: usize,
    per_step: bool,
    seed: u64,
    fixed: &[usize],
    q: QParams,
) {
    calibrate(g, steps, per_step, seed);
    for row in &mut g.qparams {
        for t in fixed {
            row[*t] = q;
        }
    }
}

/// Scale modulation and gating on 4x4 maps: conv 3x3, a per-step scale `[c, 1, 1]`
/// multiplied in (FiLM / AdaGN), SiLU, the product of the modulated map and its activation
/// (a gate of the same shape), conv 3x3 out.
pub fn film_net(steps: usize, per_step: bool, seed: u64) -> QGraph {
    let mut w = Weights::new(seed);
    let emb_q = QParams {
        scale: 3.0 / 127.0,
        zero_point: 0,
    };
    let tensors = vec![
        tensor("x", [2, 4, 4], 0),     // 0
        tensor("h", [8, 4, 4], 0),     // 1
        tensor("scale", [8, 1, 1], 0), // 2
        tensor("m", [8, 4, 4], 0),     // 3
        tensor("a", [8, 4, 4], 0),     // 4
        tensor("gated", [8, 4, 4], 0), // 5
        tensor("eps", [2, 4, 4], 0),   // 6
    ];
    let ops = vec![
        w.conv([0, 1], [2, 8, 3, 1, 1], false),
        QOp::Embed {
            output: 2,
            table: embed_table(&mut w, steps, 8, emb_q),
            by: EmbedIndex::Step,
        },
        QOp::Mul {
            a: 1,
            b: 2,
            output: 3,
        },
        QOp::Lut {
            input: 3,
            output: 4,
            tables: vec![],
        },
        QOp::Mul {
            a: 3,
            b: 4,
            output: 5,
        },
        w.conv([5, 6], [8, 2, 3, 1, 1], false),
    ];
    let mut g = QGraph {
        sample_shape: [2, 4, 4],
        prediction: PredictionType::Epsilon,
        num_classes: 0,
        guidance: 1.0,
        tensors,
        qparams: vec![vec![emb_q; 7]],
        ops,
        input: 0,
        output: 6,
    };
    calibrate_with_fixed(&mut g, steps, per_step, seed, &[2], emb_q);
    g
}

/// Self-attention on 4x4 maps, two heads of 4 channels: strided conv 3x3 from 8x8, a 1x1 conv
/// to q, k, v (sliced from one tensor), `softmax(qᵀ k)` per head, `v attnᵀ`, residual add, a
/// transposed conv (kernel 4, stride 2, padding 1) back to 8x8. The transposes, slices,
/// products and softmax are the layouts the PyTorch exporters write.
pub fn attention_net(steps: usize, per_step: bool, seed: u64) -> QGraph {
    let mut w = Weights::new(seed);
    let tensors = vec![
        tensor("x", [2, 8, 8], 0),        // 0
        tensor("h", [8, 4, 4], 0),        // 1
        tensor("qkv", [24, 4, 4], 0),     // 2
        tensor("q", [8, 4, 4], 0),        // 3
        tensor("k", [8, 4, 4], 0),        // 4
        tensor("v", [8, 4, 4], 0),        // 5
        tensor("qT", [2, 16, 4], 0),      // 6
        tensor("scores", [2, 16, 16], 0), // 7
        tensor("attn", [2, 16, 16], 0),   // 8
        tensor("attnT", [2, 16, 16], 0),  // 9
        tensor("o", [8, 4, 4], 0),        // 10
        tensor("r", [8, 4, 4], 0),        // 11
        tensor("eps", [2, 8, 8], 0),      // 12
    ];
    let third = |start| QOp::Move {
        input: 2,
        output: 3 + start,
        how: Movement::Slice(SliceGeometry {
            axis: 3,
            start,
            len: 1,
            inner: 128,
        }),
    };
    let last_two = |input, output, d: [usize; 3]| QOp::Move {
        input,
        output,
        how: Movement::Transpose {
            dims: [1, d[0], d[1], d[2]],
            perm: [0, 1, 3, 2],
        },
    };
    let ops = vec![
        w.conv([0, 1], [2, 8, 3, 2, 1], false),
        w.conv([1, 2], [8, 24, 1, 1, 0], false),
        third(0),
        third(1),
        third(2),
        last_two(3, 6, [2, 4, 16]),
        QOp::MatMul {
            a: 6,
            b: 4,
            output: 7,
            geometry: MatMulGeometry {
                batch: 2,
                m: 16,
                k: 4,
                n: 16,
            },
        },
        QOp::Softmax {
            input: 7,
            output: 8,
            n: 16,
            table: Box::new([0; 256]),
        },
        last_two(8, 9, [2, 16, 16]),
        QOp::MatMul {
            a: 5,
            b: 9,
            output: 10,
            geometry: MatMulGeometry {
                batch: 2,
                m: 4,
                k: 16,
                n: 16,
            },
        },
        QOp::Add {
            a: 1,
            b: 10,
            output: 11,
        },
        w.conv_transpose([11, 12], [8, 2, 4, 2, 1, 0]),
    ];
    let mut g = QGraph {
        sample_shape: [2, 8, 8],
        prediction: PredictionType::Epsilon,
        num_classes: 0,
        guidance: 1.0,
        tensors,
        qparams: vec![vec![softmax::OUTPUT; 13]],
        ops,
        input: 0,
        output: 12,
    };
    calibrate(&mut g, steps, per_step, seed);
    tie_copies_and_softmax(&mut g);
    g
}

/// The quantization rules of the quantizer for copies and softmax: a movement's output keeps
/// its input's parameters, a softmax reads one scale at every step (its table is built from
/// it) and writes on the fixed 1/256 grid.
fn tie_copies_and_softmax(g: &mut QGraph) {
    let ops = g.ops.clone();
    for op in &ops {
        match op {
            QOp::Move { input, output, .. } => {
                for row in &mut g.qparams {
                    row[*output] = row[*input];
                }
            }
            QOp::Softmax { input, output, .. } => {
                let first = g.qparams[0][*input];
                for row in &mut g.qparams {
                    row[*input] = first;
                    row[*output] = softmax::OUTPUT;
                }
            }
            _ => {}
        }
    }
    let qparams = g.qparams.clone();
    for op in &mut g.ops {
        if let QOp::Softmax { input, table, .. } = op {
            **table = softmax::exp_table(qparams[0][*input].scale);
        }
    }
}

/// LayerNorm and RMSNorm on token-like rows: linear 16 -> 32, LayerNorm over the 32 values,
/// SiLU, linear 32 -> 32, RMSNorm over 4 rows of 8, each row times a per-step vector of 8
/// (AdaLN-style modulation of tokens), linear 32 -> 16.
pub fn norm_net(steps: usize, per_step: bool, seed: u64) -> QGraph {
    let mut w = Weights::new(seed);
    let tensors = vec![
        tensor("x", [16, 1, 1], 0),    // 0
        tensor("h", [32, 1, 1], 0),    // 1
        tensor("ln", [32, 1, 1], 0),   // 2
        tensor("a", [32, 1, 1], 0),    // 3
        tensor("h2", [32, 1, 1], 0),   // 4
        tensor("rms", [32, 1, 1], 0),  // 5
        tensor("eps", [16, 1, 1], 0),  // 6
        tensor("scale", [1, 1, 8], 0), // 7
        tensor("mod", [32, 1, 1], 0),  // 8
    ];
    let emb_q = QParams {
        scale: 3.0 / 127.0,
        zero_point: 0,
    };
    let norm = |w: &mut Weights, io: [usize; 2], n: usize, center: bool| QOp::LayerNorm {
        input: io[0],
        output: io[1],
        n,
        gamma: w.normals(n).iter().map(|v| 1.0 + 0.2 * v).collect(),
        beta: w.normals(n).iter().map(|v| 0.1 * v).collect(),
        eps: 1e-5,
        center,
    };
    let ops = vec![
        w.conv([0, 1], [16, 32, 1, 1, 0], false),
        norm(&mut w, [1, 2], 32, true),
        QOp::Lut {
            input: 2,
            output: 3,
            tables: vec![],
        },
        w.conv([3, 4], [32, 32, 1, 1, 0], false),
        norm(&mut w, [4, 5], 8, false),
        QOp::Embed {
            output: 7,
            table: embed_table(&mut w, steps, 8, emb_q),
            by: EmbedIndex::Step,
        },
        QOp::Mul {
            a: 5,
            b: 7,
            output: 8,
        },
        w.conv([8, 6], [32, 16, 1, 1, 0], false),
    ];
    let mut g = QGraph {
        sample_shape: [16, 1, 1],
        prediction: PredictionType::Epsilon,
        num_classes: 0,
        guidance: 1.0,
        tensors,
        qparams: vec![vec![emb_q; 9]],
        ops,
        input: 0,
        output: 6,
    };
    calibrate_with_fixed(&mut g, steps, per_step, seed, &[7], emb_q);
    g
}

/// A 1-D signal `[2, 1, 32]` (stored as one row) through the conv variants: a Conv1d
/// (kernel 5, padding on the row only), plus a constant tensor (a position embedding), a
/// depthwise conv (kernel 7), SiLU, a grouped dilated
/// conv (2 groups, dilation 2), a strided conv down to 16 plus a max-pooled shortcut (window
/// 3, stride 2, padding 1; 1x1 conv), a nearest upsampling of the row back to 32, and a
/// Conv1d out.
pub fn conv1d_net(steps: usize, per_step: bool, seed: u64) -> QGraph {
    let mut w = Weights::new(seed);
    let const_q = QParams {
        scale: 3.0 / 127.0,
        zero_point: 0,
    };
    let row = |k, stride, pad| ConvSpec {
        pad: [0, pad],
        ..ConvSpec::new([1, k], stride, 0)
    };
    let tensors = vec![
        tensor("x", [2, 1, 32], 0),   // 0
        tensor("h", [8, 1, 32], 0),   // 1
        tensor("dw", [8, 1, 32], 0),  // 2
        tensor("a", [8, 1, 32], 0),   // 3
        tensor("g", [8, 1, 32], 0),   // 4
        tensor("d", [16, 1, 16], 0),  // 5
        tensor("eps", [2, 1, 32], 0), // 6
        tensor("u", [16, 1, 32], 0),  // 7
        tensor("m", [8, 1, 16], 0),   // 8
        tensor("mp", [16, 1, 16], 0), // 9
        tensor("s", [16, 1, 16], 0),  // 10
        tensor("pos", [8, 1, 32], 0), // 11
        tensor("hp", [8, 1, 32], 0),  // 12
    ];
    let ops = vec![
        w.conv_with([0, 1], [2, 8], row(5, 1, 2), false),
        QOp::Embed {
            output: 11,
            table: embed_table(&mut w, 1, 8 * 32, const_q),
            by: EmbedIndex::Const,
        },
        QOp::Add {
            a: 1,
            b: 11,
            output: 12,
        },
        w.conv_with(
            [12, 2],
            [8, 8],
            ConvSpec {
                groups: 8,
                ..row(7, 1, 3)
            },
            false,
        ),
        QOp::Lut {
            input: 2,
            output: 3,
            tables: vec![],
        },
        w.conv_with(
            [3, 4],
            [8, 8],
            ConvSpec {
                groups: 2,
                dilation: 2,
                ..row(3, 1, 2)
            },
            false,
        ),
        w.conv_with([4, 5], [8, 16], row(4, 2, 1), false),
        QOp::Move {
            input: 4,
            output: 8,
            how: Movement::MaxPool(row(3, 2, 1).on([8, 1, 32], 8)),
        },
        w.conv_with([8, 9], [8, 16], row(1, 1, 0), false),
        QOp::Add {
            a: 5,
            b: 9,
            output: 10,
        },
        QOp::Upsample {
            input: 10,
            output: 7,
            factor: [1, 2],
        },
        w.conv_with([7, 6], [16, 2], row(3, 1, 1), false),
    ];
    let mut g = QGraph {
        sample_shape: [2, 1, 32],
        prediction: PredictionType::Epsilon,
        num_classes: 0,
        guidance: 1.0,
        tensors,
        qparams: vec![vec![const_q; 13]],
        ops,
        input: 0,
        output: 6,
    };
    calibrate_with_fixed(&mut g, steps, per_step, seed, &[11], const_q);
    g
}
