//! `edgediff train`: small epsilon-networks trained with candle on the CPU.
//!
//! AdamW with a cosine learning-rate decay, an exponential moving average of the weights (the
//! EMA weights are what gets exported), a seeded initialisation and seeded batches, and the
//! epsilon, x0, v or flow-matching velocity objective.

pub mod export;
pub mod mlp;
pub mod unet;

use crate::data::Toy2d;
use crate::error::Error;
use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use edgediff_runtime::noise::{GaussianNoise, NoiseSource};
use edgediff_runtime::prediction::PredictionType;
use edgediff_runtime::schedule::betas::NoiseSchedule;
use export::Weights;
use mlp::{MlpDenoiser, MlpSpec};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use unet::{UNetDenoiser, UNetSpec};

/// Training options.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// Optimiser steps.
    pub steps: usize,
    /// Batch size.
    pub batch: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// EMA decay.
    pub ema: f64,
    /// Seed of the initialisation and the batches.
    pub seed: u64,
    /// Training target.
    pub objective: PredictionType,
    /// The forward process.
    pub schedule: NoiseSchedule,
    /// Probability of replacing a label by the null label (classifier-free guidance).
    pub label_dropout: f64,
}

/// Where batches come from.
pub trait BatchSource {
    /// Data dimension.
    fn dim(&self) -> usize;
    /// Classes (0: unconditional).
    fn num_classes(&self) -> usize;
    /// `n` samples and their labels (empty when unconditional).
    fn batch(&mut self, n: usize, seed: u64) -> (Vec<f32>, Vec<u32>);
}

impl BatchSource for Toy2d {
    fn dim(&self) -> usize {
        2
    }
    fn num_classes(&self) -> usize {
        0
    }
    fn batch(&mut self, n: usize, seed: u64) -> (Vec<f32>, Vec<u32>) {
        (self.sample(n, seed), Vec::new())
    }
}

/// An architecture and its sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// The MLP denoiser.
    Mlp(MlpSpec),
    /// The conv U-Net (8x8 images).
    UNet(UNetSpec),
}

/// A built model.
enum Net {
    Mlp(MlpDenoiser),
    UNet(UNetDenoiser),
}

impl Net {
    fn forward(
        &self,
        x: &Tensor,
        t: &Tensor,
        labels: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        match self {
            Net::Mlp(m) => m.forward(x, t, labels),
            Net::UNet(m) => m.forward(x, t, labels),
        }
    }
}

/// A trained model: its sizes, EMA weights and the loss curve.
#[derive(Clone, Debug)]
pub struct Trained {
    /// Architecture.
    pub arch: Arch,
    /// EMA weights.
    pub weights: Weights,
    /// Mean loss over each tenth of training.
    pub loss_curve: Vec<f64>,
}

fn ce(e: candle_core::Error) -> Error {
    Error::Input(format!("training failed in candle: {e}"))
}

/// Trains a denoiser of architecture `arch` on `data`.
pub fn train(
    data: &mut dyn BatchSource,
    arch: Arch,
    cfg: &TrainConfig,
    progress: &indicatif::ProgressBar,
) -> Result<Trained, Error> {
    let dev = Device::Cpu;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
    let (model, dim, classes) = match arch {
        Arch::Mlp(spec) => {
            mlp::init(&varmap, &spec, cfg.seed, &dev).map_err(ce)?;
            (
                Net::Mlp(MlpDenoiser::new(vb, spec).map_err(ce)?),
                spec.dim,
                spec.num_classes,
            )
        }
        Arch::UNet(spec) => {
            unet::init(&varmap, &spec, cfg.seed, &dev).map_err(ce)?;
            (
                Net::UNet(UNetDenoiser::new(vb, spec).map_err(ce)?),
                unet::SIDE * unet::SIDE,
                spec.num_classes,
            )
        }
    };
    let params = ParamsAdamW {
        lr: cfg.lr,
        weight_decay: 1e-4,
        ..Default::default()
    };
    let mut opt = AdamW::new(varmap.all_vars(), params).map_err(ce)?;
    let mut names: Vec<String> = varmap
        .data()
        .lock()
        .map_err(|_| Error::Input("poisoned lock".into()))?
        .keys()
        .cloned()
        .collect();
    names.sort();
    let vars = {
        let data = varmap
            .data()
            .lock()
            .map_err(|_| Error::Input("poisoned lock".into()))?;
        names
            .iter()
            .filter_map(|n| data.get(n).cloned())
            .collect::<Vec<_>>()
    };
    let mut ema: Vec<Tensor> = vars
        .iter()
        .map(|v| v.as_tensor().copy())
        .collect::<Result<_, _>>()
        .map_err(ce)?;

    let abar = cfg.schedule.alphas_cumprod();
    let t_max = abar.len() as u64;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0xba7c4);
    let mut noise = GaussianNoise::new(cfg.seed ^ 0x0153);
    let (b, d) = (cfg.batch, dim);
    let mut losses = Vec::with_capacity(cfg.steps);
    progress.set_length(cfg.steps as u64);
    for step in 0..cfg.steps {
        let (x0, mut labels) = data.batch(
            b,
            cfg.seed.wrapping_mul(1_000_003).wrapping_add(step as u64),
        );
        let ts: Vec<u64> = (0..b).map(|_| rng.next_u64() % t_max).collect();
        let eps: Vec<f32> = (0..b * d)
            .map(|_| noise.next_normal().unwrap_or(0.0))
            .collect();
        let mut xt = vec![0f32; b * d];
        let mut target = vec![0f32; b * d];
        // Flow matching: level s = (t + 1) / T on the straight path, the network seeing t + 1
        // (diffusers' FlowMatchEulerDiscreteScheduler timesteps s T); otherwise abar_t.
        let flow = cfg.objective.is_flow();
        let net_t: Vec<f32> = ts
            .iter()
            .map(|&t| if flow { (t + 1) as f32 } else { t as f32 })
            .collect();
        for i in 0..b {
            let (al, si) = if flow {
                let s = (ts[i] + 1) as f64 / t_max as f64;
                ((1.0 - s) as f32, s as f32)
            } else {
                let a = abar[ts[i] as usize];
                (a.sqrt() as f32, (1.0 - a).sqrt() as f32)
            };
            for j in 0..d {
                let k = i * d + j;
                xt[k] = al * x0[k] + si * eps[k];
                target[k] = cfg.objective.from_x0_eps(x0[k], eps[k], al, si);
            }
        }
        for l in labels.iter_mut() {
            if (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= cfg.label_dropout {
                *l = classes as u32;
            }
        }
        let lr = cfg.lr
            * (0.1
                + 0.9
                    * 0.5
                    * (1.0 + (std::f64::consts::PI * step as f64 / cfg.steps as f64).cos()));
        opt.set_learning_rate(lr);
        let loss = (|| -> candle_core::Result<f32> {
            let x = Tensor::from_vec(xt, (b, d), &dev)?;
            let t = Tensor::from_vec(net_t, (b, 1), &dev)?;
            let y = Tensor::from_vec(target, (b, d), &dev)?;
            let lab = if classes > 0 {
                Some(Tensor::from_vec(labels, b, &dev)?)
            } else {
                None
            };
            let pred = model.forward(&x, &t, lab.as_ref())?;
            let loss = candle_nn::loss::mse(&pred, &y)?;
            opt.backward_step(&loss)?;
            for (e, v) in ema.iter_mut().zip(&vars) {
                *e = (e.affine(cfg.ema, 0.0)? + v.as_tensor().affine(1.0 - cfg.ema, 0.0)?)?;
            }
            loss.to_scalar::<f32>()
        })()
        .map_err(ce)?;
        losses.push(f64::from(loss));
        progress.inc(1);
        if step % 100 == 0 {
            progress.set_message(format!("loss {loss:.4}"));
        }
    }
    progress.finish_and_clear();
    let tenth = (cfg.steps / 10).max(1);
    let loss_curve = losses
        .chunks(tenth)
        .map(|c| c.iter().sum::<f64>() / c.len() as f64)
        .collect();
    let mut weights = Weights::new();
    for (name, t) in names.iter().zip(&ema) {
        let dims = t.dims().to_vec();
        let v = t
            .flatten_all()
            .and_then(|f| f.to_vec1::<f32>())
            .map_err(ce)?;
        weights.insert(name.clone(), (dims, v));
    }
    Ok(Trained {
        arch,
        weights,
        loss_curve,
    })
}
