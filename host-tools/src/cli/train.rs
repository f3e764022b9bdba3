//! `edgediff train`: trains an MLP epsilon-network and writes `float.onnx` and
//! `model.safetensors` into the output folder.

use super::Error;
use super::sampler_args::ScheduleArgs;
use crate::data::Toy2d;
use crate::data::digits::{self, Digits};
use crate::files::write_atomic;
use crate::train::export::{mlp_onnx, unet_onnx};
use crate::train::mlp::MlpSpec;
use crate::train::unet::UNetSpec;
use crate::train::{Arch, BatchSource, TrainConfig, train};
use clap::ValueEnum;
use edgediff_runtime::prediction::PredictionType;
use std::path::PathBuf;
use std::time::Instant;

/// Training data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DataName {
    /// Two moons (2-D).
    TwoMoons,
    /// Swiss roll (2-D).
    SwissRoll,
    /// Eight Gaussians (2-D).
    EightGaussians,
    /// Checkerboard (2-D).
    Checkerboard,
    /// The UCI 8x8 digits (64-D).
    Digits,
}

/// Network architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ArchName {
    /// MLP with a time MLP.
    Mlp,
    /// Conv U-Net (8x8 digits only).
    Unet,
}

/// Training objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Objective {
    /// Predict the noise.
    Epsilon,
    /// Predict the clean sample x0.
    Sample,
    /// Predict v.
    V,
    /// Flow matching: predict the velocity `eps - x0` on `x = (1 - s) x0 + s eps` (sample with
    /// `--sampler flow-euler`).
    Flow,
}

/// Options of `edgediff train`.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Training data.
    #[arg(long, value_enum)]
    pub data: DataName,
    /// Class-conditional (digits only), with label dropout for classifier-free guidance.
    #[arg(long)]
    pub conditional: bool,
    /// Probability of dropping a label during training.
    #[arg(long, default_value_t = 0.1)]
    pub label_dropout: f64,
    /// Architecture.
    #[arg(long, value_enum, default_value = "mlp")]
    pub arch: ArchName,
    /// Hidden width (MLP) or base channels (U-Net).
    #[arg(long, default_value_t = 64)]
    pub hidden: usize,
    /// Hidden layers after the input layer.
    #[arg(long, default_value_t = 2)]
    pub depth: usize,
    /// Width of the sinusoidal timestep embedding.
    #[arg(long, default_value_t = 32)]
    pub temb: usize,
    /// Optimiser steps.
    #[arg(long, default_value_t = 4000)]
    pub steps: usize,
    /// Batch size.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Peak learning rate (cosine decay to a tenth).
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    /// EMA decay of the exported weights.
    #[arg(long, default_value_t = 0.995)]
    pub ema: f64,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Training target.
    #[arg(long, value_enum, default_value = "epsilon")]
    pub objective: Objective,
    /// The noise schedule.
    #[command(flatten)]
    pub schedule: ScheduleArgs,
    /// The digits file.
    #[arg(long, default_value = digits::DEFAULT_PATH)]
    pub digits: PathBuf,
    /// Output folder (gets float.onnx and model.safetensors).
    #[arg(long)]
    pub out: PathBuf,
    /// Overwrite existing outputs.
    #[arg(long)]
    pub force: bool,
}

/// Runs the command.
pub fn run(args: &Args) -> Result<(), Error> {
    if args.temb == 0
        || !args.temb.is_multiple_of(2)
        || args.hidden == 0
        || args.steps == 0
        || args.batch == 0
    {
        return Err(Error::Input(
            "--temb must be even and positive; --hidden, --steps and --batch positive".into(),
        ));
    }
    if args.conditional && args.data != DataName::Digits {
        return Err(Error::Input(
            "--conditional needs --data digits (the 2-D sets have no labels)".into(),
        ));
    }
    let objective = match args.objective {
        Objective::Epsilon => PredictionType::Epsilon,
        Objective::Sample => PredictionType::Sample,
        Objective::V => PredictionType::VPrediction,
        Objective::Flow => PredictionType::FlowVelocity,
    };
    let cfg = TrainConfig {
        steps: args.steps,
        batch: args.batch,
        lr: args.lr,
        ema: args.ema,
        seed: args.seed,
        objective,
        schedule: args.schedule.build()?,
        label_dropout: if args.conditional {
            args.label_dropout
        } else {
            0.0
        },
    };
    let mut source: Box<dyn BatchSource> = match args.data {
        DataName::TwoMoons => Box::new(Toy2d::TwoMoons),
        DataName::SwissRoll => Box::new(Toy2d::SwissRoll),
        DataName::EightGaussians => Box::new(Toy2d::EightGaussians),
        DataName::Checkerboard => Box::new(Toy2d::Checkerboard),
        DataName::Digits => {
            let mut d = Digits::load(&args.digits)?;
            d.conditional = args.conditional;
            Box::new(d)
        }
    };
    let arch = match args.arch {
        ArchName::Mlp => Arch::Mlp(MlpSpec {
            dim: source.dim(),
            hidden: args.hidden,
            depth: args.depth,
            temb: args.temb,
            num_classes: source.num_classes(),
        }),
        ArchName::Unet if args.data == DataName::Digits => {
            if !args.hidden.is_multiple_of(crate::train::unet::GROUPS) {
                return Err(Error::Input(format!(
                    "--hidden must be a multiple of {} for the U-Net's GroupNorm",
                    crate::train::unet::GROUPS
                )));
            }
            Arch::UNet(UNetSpec {
                channels: args.hidden,
                temb: args.temb,
                num_classes: source.num_classes(),
            })
        }
        ArchName::Unet => {
            return Err(Error::Input(
                "--arch unet needs --data digits (8x8 images)".into(),
            ));
        }
    };
    let bar = indicatif::ProgressBar::new(args.steps as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "training {bar:40} {pos}/{len} {msg} [{elapsed}<{eta}]",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let start = Instant::now();
    let trained = train(source.as_mut(), arch, &cfg, &bar)?;
    let secs = start.elapsed().as_secs_f64();
    let model = match arch {
        Arch::Mlp(spec) => mlp_onnx(&spec, &trained.weights, objective),
        Arch::UNet(spec) => unet_onnx(&spec, &trained.weights, objective),
    }
    .ok_or_else(|| Error::Input("internal: trained weights incomplete".into()))?;
    let onnx_path = args.out.join("float.onnx");
    write_atomic(&onnx_path, &crate::onnx::encode(&model), args.force)?;
    let st_path = args.out.join("model.safetensors");
    let tensors: Vec<(String, candle_core::Tensor)> = trained
        .weights
        .iter()
        .map(|(k, (dims, v))| {
            candle_core::Tensor::from_vec(v.clone(), dims.as_slice(), &candle_core::Device::Cpu)
                .map(|t| (k.clone(), t))
        })
        .collect::<Result<_, _>>()
        .map_err(|e| Error::Input(format!("candle: {e}")))?;
    let st_bytes = safetensors_bytes(&tensors)?;
    write_atomic(&st_path, &st_bytes, args.force)?;
    let params: usize = trained.weights.values().map(|(_, v)| v.len()).sum();
    println!(
        "trained {:?} {:?} ({params} parameters) on {:?} in {secs:.1} s",
        args.objective, args.arch, args.data
    );
    println!(
        "loss by tenth of training: {}",
        trained
            .loss_curve
            .iter()
            .map(|l| format!("{l:.4}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("wrote {} and {}", onnx_path.display(), st_path.display());
    Ok(())
}

/// The safetensors encoding of named tensors (via candle, through a temporary file so the
/// final write stays atomic).
fn safetensors_bytes(tensors: &[(String, candle_core::Tensor)]) -> Result<Vec<u8>, Error> {
    let tmp = std::env::temp_dir().join(format!("edgediff-{}.safetensors", std::process::id()));
    let map: std::collections::HashMap<String, candle_core::Tensor> =
        tensors.iter().cloned().collect();
    candle_core::safetensors::save(&map, &tmp)
        .map_err(|e| Error::Input(format!("safetensors: {e}")))?;
    let bytes = std::fs::read(&tmp).map_err(|e| Error::io(&tmp, e));
    let _ = std::fs::remove_file(&tmp);
    bytes
}
