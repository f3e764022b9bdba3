//! A small conv U-Net denoiser for 8x8 images: ResBlocks with GroupNorm + SiLU, one
//! down/up level, a skip concatenation, and per-block timestep and class conditioning.
//!
//! ```text
//! x [1, 8, 8] -> conv_in 3x3 -> rb1 (C) ---------------------------- skip ---+
//!                              -> down 3x3 stride 2 -> rb2 (2C) -> up x2 -> concat -> rb3 (C)
//!                              -> GroupNorm -> SiLU -> conv_out 3x3 -> eps [1, 8, 8]
//! ```
//! Each ResBlock adds `Linear(time_mlp(t))` and `Embedding(label)` as two separate per-channel
//! terms, so the timestep path and the label path stay separate and become tables.

use super::mlp::sinusoidal_frequencies;
use candle_core::{Device, Module, Result, Tensor, Var};
use candle_nn::{Conv2d, Conv2dConfig, Embedding, GroupNorm, Linear, VarBuilder, VarMap};
use edgediff_runtime::noise::{GaussianNoise, NoiseSource};

/// Sizes of the U-Net.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UNetSpec {
    /// Base channels `C`.
    pub channels: usize,
    /// Sinusoidal embedding width (even).
    pub temb: usize,
    /// Classes (0: unconditional).
    pub num_classes: usize,
}

/// GroupNorm groups of every norm.
pub const GROUPS: usize = 4;
/// Side of the images.
pub const SIDE: usize = 8;

/// `(block, in, out)` of the three ResBlocks.
pub fn blocks(spec: &UNetSpec) -> [(&'static str, usize, usize); 3] {
    let c = spec.channels;
    [("rb1", c, c), ("rb2", 2 * c, 2 * c), ("rb3", 3 * c, c)]
}

/// The time MLP width.
pub fn time_width(spec: &UNetSpec) -> usize {
    2 * spec.channels
}

struct ResBlock {
    gn1: GroupNorm,
    conv1: Conv2d,
    t_proj: Linear,
    c_emb: Option<Embedding>,
    gn2: GroupNorm,
    conv2: Conv2d,
    skip: Option<Conv2d>,
}

/// The model.
pub struct UNetDenoiser {
    t1: Linear,
    t2: Linear,
    conv_in: Conv2d,
    blocks: Vec<ResBlock>,
    down: Conv2d,
    gn_out: GroupNorm,
    conv_out: Conv2d,
    freqs: Tensor,
}

fn pad(p: usize, s: usize) -> Conv2dConfig {
    Conv2dConfig {
        padding: p,
        stride: s,
        ..Default::default()
    }
}

/// Every parameter: `(name, shape, kind)` with kind 'w' (fan-in uniform), 'z' zeros, 'o' ones,
/// 'n' normal.
pub fn parameters(spec: &UNetSpec) -> Vec<(String, Vec<usize>, char)> {
    let c = spec.channels;
    let tw = time_width(spec);
    let mut p = vec![
        ("t1.weight".to_string(), vec![tw, spec.temb], 'w'),
        ("t1.bias".into(), vec![tw], 'z'),
        ("t2.weight".into(), vec![tw, tw], 'w'),
        ("t2.bias".into(), vec![tw], 'z'),
        ("conv_in.weight".into(), vec![c, 1, 3, 3], 'w'),
        ("conv_in.bias".into(), vec![c], 'z'),
        ("down.weight".into(), vec![2 * c, c, 3, 3], 'w'),
        ("down.bias".into(), vec![2 * c], 'z'),
        ("gn_out.weight".into(), vec![c], 'o'),
        ("gn_out.bias".into(), vec![c], 'z'),
        ("conv_out.weight".into(), vec![1, c, 3, 3], 'w'),
        ("conv_out.bias".into(), vec![1], 'z'),
    ];
    for (b, i, o) in blocks(spec) {
        let mut add = |n: &str, s: Vec<usize>, k: char| p.push((format!("{b}.{n}"), s, k));
        add("gn1.weight", vec![i], 'o');
        add("gn1.bias", vec![i], 'z');
        add("conv1.weight", vec![o, i, 3, 3], 'w');
        add("conv1.bias", vec![o], 'z');
        add("t_proj.weight", vec![o, tw], 'w');
        add("t_proj.bias", vec![o], 'z');
        if spec.num_classes > 0 {
            add("c_emb.weight", vec![spec.num_classes + 1, o], 'n');
        }
        add("gn2.weight", vec![o], 'o');
        add("gn2.bias", vec![o], 'z');
        add("conv2.weight", vec![o, o, 3, 3], 'w');
        add("conv2.bias", vec![o], 'z');
        if i != o {
            add("skip.weight", vec![o, i, 1, 1], 'w');
            add("skip.bias", vec![o], 'z');
        }
    }
    p
}

/// Seeded initialisation into `varmap`.
pub fn init(varmap: &VarMap, spec: &UNetSpec, seed: u64, dev: &Device) -> Result<()> {
    let mut rng = GaussianNoise::new(seed);
    let mut data = varmap
        .data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("poisoned".into()))?;
    for (name, shape, kind) in parameters(spec) {
        let n: usize = shape.iter().product();
        let fan_in: usize = shape[1..].iter().product::<usize>().max(1);
        let v: Vec<f32> = match kind {
            'z' => vec![0.0; n],
            'o' => vec![1.0; n],
            'n' => (0..n).map(|_| rng.next_normal().unwrap_or(0.0)).collect(),
            _ => (0..n)
                .map(|_| rng.next_normal().unwrap_or(0.0) / (3.0 * fan_in as f32).sqrt())
                .collect(),
        };
        data.insert(name, Var::from_tensor(&Tensor::from_vec(v, shape, dev)?)?);
    }
    Ok(())
}

impl UNetDenoiser {
    /// The model over `vb`.
    pub fn new(vb: VarBuilder, spec: UNetSpec) -> Result<Self> {
        let c = spec.channels;
        let tw = time_width(&spec);
        let gn = |ch: usize, p: &str| candle_nn::group_norm(GROUPS, ch, 1e-5, vb.pp(p));
        let blocks = blocks(&spec)
            .into_iter()
            .map(|(b, i, o)| {
                let v = vb.pp(b);
                Ok(ResBlock {
                    gn1: candle_nn::group_norm(GROUPS, i, 1e-5, v.pp("gn1"))?,
                    conv1: candle_nn::conv2d(i, o, 3, pad(1, 1), v.pp("conv1"))?,
                    t_proj: candle_nn::linear(tw, o, v.pp("t_proj"))?,
                    c_emb: if spec.num_classes > 0 {
                        Some(candle_nn::embedding(
                            spec.num_classes + 1,
                            o,
                            v.pp("c_emb"),
                        )?)
                    } else {
                        None
                    },
                    gn2: candle_nn::group_norm(GROUPS, o, 1e-5, v.pp("gn2"))?,
                    conv2: candle_nn::conv2d(o, o, 3, pad(1, 1), v.pp("conv2"))?,
                    skip: if i != o {
                        Some(candle_nn::conv2d(i, o, 1, pad(0, 1), v.pp("skip"))?)
                    } else {
                        None
                    },
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            t1: candle_nn::linear(spec.temb, tw, vb.pp("t1"))?,
            t2: candle_nn::linear(tw, tw, vb.pp("t2"))?,
            conv_in: candle_nn::conv2d(1, c, 3, pad(1, 1), vb.pp("conv_in"))?,
            blocks,
            down: candle_nn::conv2d(c, 2 * c, 3, pad(1, 2), vb.pp("down"))?,
            gn_out: gn(c, "gn_out")?,
            conv_out: candle_nn::conv2d(c, 1, 3, pad(1, 1), vb.pp("conv_out"))?,
            freqs: Tensor::from_vec(
                sinusoidal_frequencies(spec.temb),
                (1, spec.temb / 2),
                vb.device(),
            )?,
        })
    }

    fn block(
        &self,
        k: usize,
        x: &Tensor,
        temb: &Tensor,
        labels: Option<&Tensor>,
    ) -> Result<Tensor> {
        let b = &self.blocks[k];
        let (n, o) = (x.dim(0)?, b.conv2.weight().dim(0)?);
        let mut h = b.conv1.forward(&b.gn1.forward(x)?.silu()?)?;
        h = h.broadcast_add(&b.t_proj.forward(temb)?.reshape((n, o, 1, 1))?)?;
        if let (Some(e), Some(l)) = (&b.c_emb, labels) {
            h = h.broadcast_add(&e.forward(l)?.reshape((n, o, 1, 1))?)?;
        }
        h = b.conv2.forward(&b.gn2.forward(&h)?.silu()?)?;
        let skip = match &b.skip {
            Some(s) => s.forward(x)?,
            None => x.clone(),
        };
        h + skip
    }

    /// `x`: `[B, 64]`; `t`: `[B, 1]` f32; `labels`: `[B]` u32. Returns `[B, 64]`.
    pub fn forward(&self, x: &Tensor, t: &Tensor, labels: Option<&Tensor>) -> Result<Tensor> {
        let n = x.dim(0)?;
        let arg = t.broadcast_mul(&self.freqs)?;
        let emb = Tensor::cat(&[arg.sin()?, arg.cos()?], 1)?;
        let temb = self.t2.forward(&self.t1.forward(&emb)?.silu()?)?;
        let x = x.reshape((n, 1, SIDE, SIDE))?;
        let h0 = self.conv_in.forward(&x)?;
        let h1 = self.block(0, &h0, &temb, labels)?;
        let d = self.down.forward(&h1)?;
        let h2 = self.block(1, &d, &temb, labels)?;
        let up = h2.upsample_nearest2d(SIDE, SIDE)?;
        let cat = Tensor::cat(&[&up, &h1], 1)?;
        let h3 = self.block(2, &cat, &temb, labels)?;
        let out = self.conv_out.forward(&self.gn_out.forward(&h3)?.silu()?)?;
        out.reshape((n, SIDE * SIDE))
    }
}
