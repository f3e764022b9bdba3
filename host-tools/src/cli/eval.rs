//! `edgediff eval`: sample quality of a model with a chosen engine against fresh data.

use super::Error;
use super::sampler_args::SamplerArgs;
use crate::data::Toy2d;
use crate::data::digits::Digits;
use crate::eval::classifier::{Classifier, quality_digits};
use crate::eval::quality_2d;
use crate::pipeline::{Dyn, EngineName, load};
use crate::sampling::Job;
use std::path::PathBuf;

/// Options of `edgediff eval`.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The model (pack, int8 ONNX or float ONNX, matching the engine).
    #[arg(long)]
    pub model: PathBuf,
    /// The engine.
    #[arg(long, value_enum, default_value = "runtime")]
    pub engine: EngineName,
    /// Sampler options (the runtime engine takes them from the pack).
    #[command(flatten)]
    pub sampler: SamplerArgs,
    /// The 2-D data set the model was trained on (omit for digits models).
    #[arg(long, value_enum)]
    pub data: Option<Toy2d>,
    /// Guidance scale for tract-float (the int8 models carry theirs).
    #[arg(long, default_value_t = 1.0)]
    pub guidance: f32,
    /// Class label for conditional models (default: 0..9 in turn).
    #[arg(long)]
    pub label: Option<u16>,
    /// The digits classifier.
    #[arg(long, default_value = super::classifier::DEFAULT_CLASSIFIER)]
    pub classifier: PathBuf,
    /// The digits file.
    #[arg(long, default_value = crate::data::digits::DEFAULT_PATH)]
    pub digits: PathBuf,
    /// Samples (and fresh data points).
    #[arg(long, short = 'n', default_value_t = 10_000)]
    pub samples: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Runs the command.
pub fn run(args: &Args) -> Result<(), Error> {
    let mut m = load(&args.model, args.engine, &args.sampler, args.guidance)?;
    let labels: Vec<u16> = match (m.num_classes, args.label) {
        (0, _) => vec![],
        (_, Some(l)) => vec![l; args.samples],
        (c, None) => (0..args.samples)
            .map(|i| (i % usize::from(c)) as u16)
            .collect(),
    };
    let job = Job {
        plan: &m.plan,
        prediction: m.prediction,
        clip_sample: m.clip,
        dim: m.dim,
        n: args.samples,
        labels: &labels,
        seed: args.seed,
    };
    let x = super::in_model(
        &args.model.display().to_string(),
        job.run(&mut Dyn(m.denoiser.as_mut())),
    )?;
    let Some(data) = args.data else {
        if m.dim != 64 {
            return Err(Error::Input(format!(
                "{}: a {}-D model needs --data (the 2-D sets); digits models have 64 values",
                args.model.display(),
                m.dim
            )));
        }
        let c = Classifier::load(&args.classifier)?;
        let real = Digits::load(&args.digits)?;
        let q = quality_digits(&c, &x, &labels, &real);
        println!(
            "{:?} {} steps: Fréchet distance {:.2} (floor {:.2}); label accuracy {}; class histogram {:?}",
            args.engine,
            m.plan.rows.len(),
            q.fd,
            q.fd_floor,
            q.label_accuracy
                .map_or("-".into(), |a| format!("{:.1}%", 100.0 * a)),
            q.histogram
        );
        return Ok(());
    };
    let q = quality_2d(&x, data, args.seed);
    println!(
        "{:?} {} steps: sliced W1 {:.4} (floor {:.4}), MMD^2 {:.5} (floor {:.5})",
        args.engine,
        m.plan.rows.len(),
        q.sw1,
        q.sw1_floor,
        q.mmd2,
        q.mmd2_floor
    );
    Ok(())
}
