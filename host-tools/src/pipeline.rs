//! The pipeline as a library: load a model for an engine, import and quantize a float
//! model for a sampling plan, compile it in memory. The commands in `cli/`, the tests, the
//! benches and the fuzz targets all call it from here.

use crate::cli::sampler_args::SamplerArgs;
use crate::data::Toy2d;
use crate::engines::{TractDenoiser, TractInput};
use crate::error::Error;
use crate::files::read;
use crate::ir::FloatGraph;
use crate::ir::QGraph;
use crate::onnx::import::{ImportOptions, import};
use crate::onnx::metadata::prediction_name;
use crate::onnx::{qonnx, read_model};
use crate::quantize::calibrate::{CalibConfig, calibrate};
use crate::quantize::to_qgraph;
use clap::ValueEnum;
use edgediff_runtime::Denoiser;
use edgediff_runtime::engine::Engine;
use edgediff_runtime::pack::Pack;
use edgediff_runtime::prediction::PredictionType;
use edgediff_runtime::sampler::plan::Plan;
use edgediff_runtime::schedule::{StepRow, StepTable};
use std::path::Path;

/// Which engine runs the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EngineName {
    /// The model pack through the no_std runtime (int8).
    Runtime,
    /// The int8 ONNX through tract.
    Tract,
    /// The float ONNX through tract.
    TractFloat,
}

/// A loaded model: its engine, plan and conventions.
pub struct Loaded {
    /// The network.
    pub denoiser: Box<dyn Denoiser>,
    /// The step table.
    pub plan: Plan,
    /// What the network predicts.
    pub prediction: PredictionType,
    /// Clip range.
    pub clip: Option<f32>,
    /// Elements per sample.
    pub dim: usize,
    /// Classes.
    pub num_classes: u16,
}

/// A pack and its arena, owned, so the runtime engine can borrow them for `'static`.
fn leak_engine(bytes: Vec<u8>, file: &str) -> Result<Engine<'static, 'static>, Error> {
    let named = |e| Error::Input(format!("{file}: {e}"));
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    let pack = Pack::parse(bytes).map_err(named)?;
    let arena: &'static mut [i8] = Box::leak(vec![0i8; pack.arena_bytes()].into_boxed_slice());
    Engine::new(pack, arena).map_err(named)
}

/// An error when `--prediction` differs from what a pack or int8 ONNX was built for.
fn same_prediction(
    file: &str,
    built: PredictionType,
    flag: Option<PredictionType>,
) -> Result<(), Error> {
    match flag {
        Some(f) if f != built => Err(Error::Input(format!(
            "{file} was built for {} prediction, --prediction says {}; quantize the float \
             model again with --prediction {}",
            prediction_name(built),
            prediction_name(f),
            prediction_name(f)
        ))),
        _ => Ok(()),
    }
}

/// An error when sampler options ask for another step table (or clip range) than the one a
/// pack was compiled with: a pack samples only with its own.
fn same_sampler(
    file: &str,
    own: &Plan,
    own_clip: Option<f32>,
    sampler: &SamplerArgs,
) -> Result<(), Error> {
    let shapes_table = sampler.shapes_the_table();
    if !shapes_table && sampler.clip_sample.is_none() {
        return Ok(());
    }
    let spec = sampler.resolve()?;
    let asked = spec.plan()?;
    let same_row = |a: &StepRow, b: &StepRow| {
        a.t == b.t && a.t_prev == b.t_prev && a.to_f16().coeffs == b.to_f16().coeffs
    };
    let same_table = asked.rows.len() == own.rows.len()
        && asked.corrector_steps == own.corrector_steps
        && asked.thresholding == own.thresholding
        && asked
            .rows
            .iter()
            .zip(&own.rows)
            .all(|(a, b)| same_row(a, b));
    let ts = |p: &Plan| p.rows.iter().map(|r| r.t).collect::<Vec<_>>();
    let clip_differs = (shapes_table || sampler.clip_sample.is_some()) && spec.clip != own_clip;
    if same_table && !clip_differs {
        return Ok(());
    }
    let what = |p: &Plan, clip: Option<f32>| {
        format!(
            "{} steps at timesteps {:?}, {} corrector steps, clip {clip:?}, thresholding {:?}",
            p.rows.len(),
            ts(p),
            p.corrector_steps,
            p.thresholding.map(|t| (t.ratio, t.max_value))
        )
    };
    let flags = sampler.to_flags();
    let requantize = if ts(&asked) == ts(own) {
        String::new()
    } else {
        format!(
            " (the timesteps differ, so quantize the float model for them first: `edgediff \
             quantize --model FLOAT.onnx --out MODEL.int8.onnx {flags}`)"
        )
    };
    Err(Error::Input(format!(
        "{file} was compiled for its own step table ({}); the sampler options ({flags}) ask \
         for {}. A pack samples only with the table compiled into it: drop the options, or \
         build a pack for them with `edgediff compile --model MODEL.int8.onnx --out NEW.pack \
         {flags}`{requantize}",
        what(own, own_clip),
        what(&asked, spec.clip)
    )))
}

/// Loads `model` for `engine`.
pub fn load(
    model: &Path,
    engine: EngineName,
    sampler: &SamplerArgs,
    guidance: f32,
) -> Result<Loaded, Error> {
    let file = model.display().to_string();
    match engine {
        EngineName::Runtime => {
            let engine = leak_engine(read(model)?, &file)?;
            let pack = *engine.pack();
            let m = *pack.meta();
            same_prediction(&file, m.prediction, sampler.prediction)?;
            let table = pack.schedule();
            let own = Plan {
                rows: (0..table.steps()).filter_map(|i| table.row(i)).collect(),
                corrector_steps: m.corrector_steps,
                thresholding: m.thresholding,
            };
            same_sampler(&file, &own, m.clip_sample, sampler)?;
            Ok(Loaded {
                plan: own,
                prediction: m.prediction,
                clip: m.clip_sample,
                dim: m.sample_len(),
                num_classes: m.num_classes,
                denoiser: Box::new(engine),
            })
        }
        EngineName::Tract => {
            let proto = read_model(model)?;
            let q = qonnx::read(&proto, &file)?;
            let spec = sampler.resolve()?;
            let plan = spec.plan()?;
            let ts: Vec<u32> = plan.rows.iter().map(|r| r.t).collect();
            if ts != q.timesteps {
                return Err(Error::Input(format!(
                    "{file}: quantized for timesteps {:?}; these sampler options visit {ts:?}",
                    q.timesteps
                )));
            }
            let g = &q.graph;
            same_prediction(&file, g.prediction, spec.prediction)?;
            Ok(Loaded {
                denoiser: Box::new(TractDenoiser::new(
                    &proto,
                    &file,
                    TractInput::Step,
                    g.num_classes,
                    g.guidance,
                )?),
                plan,
                prediction: g.prediction,
                clip: spec.clip,
                dim: g.sample_shape.iter().product(),
                num_classes: g.num_classes,
            })
        }
        EngineName::TractFloat => {
            let proto = read_model(model)?;
            let spec = sampler.resolve()?;
            let plan = spec.plan()?;
            let opts = ImportOptions {
                timesteps: vec![0],
                prediction: spec.prediction,
            };
            let g = import(&proto, &file, &opts)?;
            Ok(Loaded {
                denoiser: Box::new(TractDenoiser::new(
                    &proto,
                    &file,
                    TractInput::Timestep,
                    g.num_classes,
                    guidance,
                )?),
                plan,
                prediction: g.prediction,
                clip: spec.clip,
                dim: g.sample_shape.iter().product(),
                num_classes: g.num_classes,
            })
        }
    }
}

/// Forwards to a boxed denoiser (the sampler takes `impl Denoiser`).
pub struct Dyn<'a>(pub &'a mut dyn Denoiser);

impl Denoiser for Dyn<'_> {
    fn eval(
        &mut self,
        x: &[f32],
        t: u32,
        step: usize,
        labels: &[u16],
        out: &mut [f32],
    ) -> edgediff_runtime::Result<()> {
        self.0.eval(x, t, step, labels, out)
    }
}

/// Imports a float model for the sampler of `args`.
pub fn load_float(
    path: &std::path::Path,
    sampler: &SamplerArgs,
) -> Result<(FloatGraph, Plan), Error> {
    let spec = sampler.resolve()?;
    let plan = spec.plan()?;
    let model = read_model(path)?;
    let opts = ImportOptions {
        timesteps: plan.rows.iter().map(|r| r.t).collect(),
        prediction: spec.prediction,
    };
    let g = import(&model, &path.display().to_string(), &opts)?;
    Ok((g, plan))
}

/// Quantizes a float model for `plan` in memory (one scale set, calibrated as `calib` says);
/// `prediction` overrides what the file records.
pub fn quantize_for_plan(
    proto: &tract_onnx::pb::ModelProto,
    file: &str,
    plan: &Plan,
    calib: &CalibConfig,
    prediction: Option<PredictionType>,
) -> Result<QGraph, Error> {
    let opts = ImportOptions {
        timesteps: plan.rows.iter().map(|r| r.t).collect(),
        prediction,
    };
    let g = import(proto, file, &opts)?;
    let ranges = calibrate(&g, plan, calib)?;
    Ok(to_qgraph(&g, &ranges, calib.guidance))
}

/// [`quantize_for_plan`], compiled: the pack bytes.
pub fn pack_for_plan(
    proto: &tract_onnx::pb::ModelProto,
    file: &str,
    plan: &Plan,
    calib: &CalibConfig,
    prediction: Option<PredictionType>,
) -> Result<Vec<u8>, Error> {
    let q = quantize_for_plan(proto, file, plan, calib, prediction)?;
    Ok(crate::compile::writer::write_pack(&q, plan, None)?.bytes)
}

/// What a shipped model was trained on: it decides the quality measure and the pictures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShippedData {
    /// A 2-D toy set: sliced W1 to fresh points, scatter plots.
    Toy2d(Toy2d),
    /// The 8x8 digits: classifier-feature Fréchet distance, digit grids.
    Digits,
    /// ECG-like 1-D signals: sliced W1 to fresh signals, line plots, and SDEdit denoising of
    /// noisy recordings.
    Signals,
}

/// A shipped model: its folder, sampler options and data.
pub struct Shipped {
    /// Folder name under `models/`.
    pub name: &'static str,
    /// Sampler options it was compiled with.
    pub sampler: &'static str,
    /// Its data.
    pub data: ShippedData,
}

/// The models in `models/`.
pub const SHIPPED: &[Shipped] = &[
    Shipped {
        name: "two-moons",
        sampler: "--sampler dpmpp --steps 20 --spacing linspace",
        data: ShippedData::Toy2d(Toy2d::TwoMoons),
    },
    Shipped {
        name: "two-moons-flow",
        sampler: "--sampler flow-euler --steps 50",
        data: ShippedData::Toy2d(Toy2d::TwoMoons),
    },
    Shipped {
        name: "digits-mlp",
        sampler: "--sampler dpmpp --steps 20 --spacing linspace",
        data: ShippedData::Digits,
    },
    Shipped {
        name: "digits-unet",
        sampler: "--sampler dpmpp --steps 20 --spacing linspace",
        data: ShippedData::Digits,
    },
    Shipped {
        name: "digits-attn",
        sampler: "--sampler dpmpp --steps 20 --spacing linspace --prediction v",
        data: ShippedData::Digits,
    },
    Shipped {
        name: "ecg-unet1d",
        sampler: "--sampler dpmpp --steps 20 --spacing linspace",
        data: ShippedData::Signals,
    },
];

/// Parses sampler options from text.
pub fn sampler_args(s: &str) -> SamplerArgs {
    #[derive(clap::Parser)]
    struct Opts {
        #[command(flatten)]
        sampler: SamplerArgs,
    }
    <Opts as clap::Parser>::parse_from(std::iter::once("edgediff").chain(s.split_whitespace()))
        .sampler
}
