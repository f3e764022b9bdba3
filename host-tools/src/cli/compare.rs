//! `edgediff compare`: a float model against its int8 version under several samplers and step
//! counts (DDPM 1000, DDIM 50/20/10, DPM-Solver++ 20/10/5). Each int8 column is a pack
//! quantized for that sampler, since a pack's time tables cover only its own steps. 2-D
//! models are measured with sliced W1 and MMD, digits models with the classifier's Fréchet
//! distance (and label accuracy when conditional).

use super::Error;
use super::sampler_args::{ScheduleArgs, prediction_arg};
use crate::data::Toy2d;
use crate::data::digits::Digits;
use crate::engines::{TractDenoiser, TractInput};
use crate::eval::classifier::{Classifier, quality_digits};
use crate::eval::quality_2d;
use crate::onnx::read_model;
use crate::pipeline::Dyn;
use crate::pipeline::pack_for_plan;
use crate::quantize::calibrate::{CalibConfig, DEFAULT_TAIL_SCALE};
use crate::sampling::Job;
use edgediff_runtime::engine::Engine;
use edgediff_runtime::pack::Pack;
use edgediff_runtime::prediction::PredictionType;
use edgediff_runtime::sampler::plan::{self, DdpmVariance, PlanConfig, SamplerKind};
use edgediff_runtime::schedule::spacing::Spacing;
use std::path::PathBuf;

/// Options of `edgediff compare`.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The float ONNX network (noise, x0 or v prediction).
    #[arg(long)]
    pub model: PathBuf,
    /// The 2-D data set it was trained on (omit for digits models).
    #[arg(long, value_enum)]
    pub data: Option<Toy2d>,
    /// Samples per cell.
    #[arg(long, short = 'n', default_value_t = 2000)]
    pub samples: usize,
    /// Classifier-free guidance scale (conditional models; calibration uses it too).
    #[arg(long, default_value_t = 1.0)]
    pub guidance: f32,
    /// Calibration trajectories per int8 cell.
    #[arg(long, default_value_t = 256)]
    pub calib: usize,
    /// Noise scale of the calibration's tail trajectories (1: none), as in `quantize`.
    #[arg(long, default_value_t = DEFAULT_TAIL_SCALE)]
    pub tail_scale: f32,
    /// Only the samplers whose name starts with this (e.g. `DDIM`).
    #[arg(long)]
    pub only: Option<String>,
    /// The digits classifier.
    #[arg(long, default_value = super::classifier::DEFAULT_CLASSIFIER)]
    pub classifier: PathBuf,
    /// The digits file.
    #[arg(long, default_value = crate::data::digits::DEFAULT_PATH)]
    pub digits: PathBuf,
    /// The noise schedule the model was trained with.
    #[command(flatten)]
    pub schedule: ScheduleArgs,
    /// A diffusers `scheduler_config.json`: its betas and prediction type, where no flag sets
    /// them (the samplers compared are this command's own line-up).
    #[arg(long)]
    pub scheduler_config: Option<PathBuf>,
    /// What the network predicts (epsilon, v, sample), when the file does not record it.
    #[arg(long, value_parser = prediction_arg)]
    pub prediction: Option<PredictionType>,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// The samplers compared: diffusion samplers, or for a flow-matching model its Euler steps.
pub fn samplers(train_steps: usize, flow: bool) -> Vec<(String, PlanConfig)> {
    if flow {
        return [100, 50, 20, 10]
            .into_iter()
            .map(|n| {
                let kind = SamplerKind::FlowMatchEuler { shift: 1.0 };
                (
                    format!("flow Euler {n}"),
                    PlanConfig::new(kind, n, Spacing::Linspace),
                )
            })
            .collect();
    }
    let dpm = SamplerKind::DPM_SOLVER_PP_2M;
    let mut v = vec![(
        format!("DDPM {train_steps}"),
        PlanConfig::new(
            SamplerKind::Ddpm {
                variance: DdpmVariance::FixedSmall,
            },
            train_steps,
            Spacing::Leading,
        ),
    )];
    for n in [50, 20, 10] {
        v.push((
            format!("DDIM {n}"),
            PlanConfig::new(SamplerKind::Ddim { eta: 0.0 }, n, Spacing::Trailing),
        ));
    }
    for n in [20, 10, 5] {
        v.push((
            format!("DPM-Solver++ {n}"),
            PlanConfig::new(dpm, n, Spacing::Linspace),
        ));
    }
    v
}

/// How one cell's samples are scored.
enum Metric {
    /// 2-D: sliced W1 and MMD against fresh data.
    Toy(Toy2d),
    /// Digits: the classifier's Fréchet distance and label accuracy.
    Digits(Box<(Classifier, Digits)>),
}

impl Metric {
    fn header(&self) -> &'static str {
        match self {
            Metric::Toy(_) => {
                "| sampler | float sliced W1 | int8 sliced W1 | int8 / float | float MMD^2 | int8 MMD^2 |\n|---|---|---|---|---|---|"
            }
            Metric::Digits(_) => {
                "| sampler | float FD | int8 FD | int8 / float | float label acc. | int8 label acc. |\n|---|---|---|---|---|---|"
            }
        }
    }

    /// The secondary score as a table cell.
    fn secondary(&self, v: Option<f64>) -> String {
        match (self, v) {
            (Metric::Toy(_), Some(v)) => format!("{v:.5}"),
            (Metric::Digits(_), Some(v)) => format!("{:.1}%", 100.0 * v),
            (_, None) => "-".into(),
        }
    }

    /// (main score, secondary score, floor of the main score).
    fn score(&self, x: &[f32], labels: &[u16], seed: u64) -> (f64, Option<f64>, f64) {
        match self {
            Metric::Toy(data) => {
                let q = quality_2d(x, *data, seed);
                (q.sw1, Some(q.mmd2), q.sw1_floor)
            }
            Metric::Digits(cd) => {
                let q = quality_digits(&cd.0, x, labels, &cd.1);
                (q.fd, q.label_accuracy, q.fd_floor)
            }
        }
    }
}

/// Runs the command.
pub fn run(args: &Args) -> Result<(), Error> {
    let (schedule, prediction) = match &args.scheduler_config {
        Some(path) => {
            let file = crate::diffusers::config::read(path)?.args;
            (
                args.schedule.or(&file.schedule).build()?,
                args.prediction.or(file.prediction),
            )
        }
        None => (args.schedule.build()?, args.prediction),
    };
    let file = args.model.display().to_string();
    let proto = read_model(&args.model)?;
    let metric = match args.data {
        Some(d) => Metric::Toy(d),
        None => Metric::Digits(Box::new((
            Classifier::load(&args.classifier)?,
            Digits::load(&args.digits)?,
        ))),
    };
    let calib = CalibConfig {
        guidance: args.guidance,
        seed: args.seed,
        tail_scale: args.tail_scale,
        ..CalibConfig::new(args.calib)
    };
    println!(
        "{} samples per cell, seed {}, guidance {}",
        args.samples, args.seed, args.guidance
    );
    println!("{}", metric.header());
    let mut floor = 0.0;
    let flow = prediction
        .or(crate::onnx::metadata::recorded_prediction(&proto, &file)?)
        .is_some_and(PredictionType::is_flow);
    let lineup = samplers(schedule.train_steps(), flow)
        .into_iter()
        .filter(|(name, _)| args.only.as_ref().is_none_or(|o| name.starts_with(o)));
    for (name, cfg) in lineup {
        let plan = plan::build(&schedule, &cfg)?;
        let bytes = pack_for_plan(&proto, &file, &plan, &calib, prediction)?;
        let pack = Pack::parse(&bytes)?;
        let meta = *pack.meta();
        let classes = meta.num_classes;
        let labels: Vec<u16> = (0..if classes > 0 { args.samples } else { 0 })
            .map(|i| (i % usize::from(classes)) as u16)
            .collect();
        let job = Job {
            plan: &plan,
            prediction: meta.prediction,
            clip_sample: None,
            dim: meta.sample_len(),
            n: args.samples,
            labels: &labels,
            seed: args.seed,
        };
        let mut float =
            TractDenoiser::new(&proto, &file, TractInput::Timestep, classes, args.guidance)?;
        let xf = super::in_model(&file, job.run(&mut Dyn(&mut float)))?;
        let mut arena = vec![0i8; pack.arena_bytes()];
        let mut engine = Engine::new(pack, &mut arena)?;
        let xq = job.run(&mut engine)?;
        let (f, f2, fl) = metric.score(&xf, &labels, args.seed);
        let (q, q2, _) = metric.score(&xq, &labels, args.seed);
        floor = fl;
        println!(
            "| {name} | {f:.4} | {q:.4} | {:.2} | {} | {} |",
            q / f,
            metric.secondary(f2),
            metric.secondary(q2)
        );
    }
    println!("noise floor (two data draws): {floor:.4}");
    Ok(())
}
