//! `edgediff sample`: the reverse-diffusion loop on the desktop, with the network run by the
//! no_std runtime (model pack), tract on the int8 ONNX, or tract on the float ONNX.

use super::Error;
use super::sampler_args::SamplerArgs;
use crate::data::Toy2d;
use crate::files::{read, write_atomic};
use crate::pipeline::{Dyn, EngineName, load};
use crate::plot;
use crate::sampling::Job;
use edgediff_runtime::sampler::{self, SignalStart};
use std::path::{Path, PathBuf};

/// Options of `edgediff sample`.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The model: a pack (runtime), an int8 ONNX (tract) or a float ONNX (tract-float).
    #[arg(long)]
    pub model: PathBuf,
    /// The engine.
    #[arg(long, value_enum, default_value = "runtime")]
    pub engine: EngineName,
    /// Sampler options (the runtime engine takes them from the pack).
    #[command(flatten)]
    pub sampler: SamplerArgs,
    /// Number of samples (at least 1).
    #[arg(long, short = 'n', default_value_t = 1000,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub samples: usize,
    /// Noise seed (the same seed gives the same noise with every engine).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Class label for conditional models (default: the labels 0..9 in turn).
    #[arg(long)]
    pub label: Option<u16>,
    /// Guidance scale (tract-float; the int8 models carry theirs).
    #[arg(long, default_value_t = 1.0)]
    pub guidance: f32,
    /// Start from these samples (CSV, one per row) instead of noise: SDEdit (`--strength`) or
    /// denoising (`--noise-std`).
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// SDEdit strength in (0, 1]: the fraction of the steps run from the noised input.
    #[arg(long, default_value_t = 0.5, conflicts_with = "noise_std")]
    pub strength: f32,
    /// Denoise the `--init` signals, which carry Gaussian noise of this standard deviation:
    /// they enter the chain unchanged at the step of that noise level.
    #[arg(long, requires = "init")]
    pub noise_std: Option<f32>,
    /// Output: `.csv`, `.npy` or `.png` (scatter for 2-D, labelled grid for digits).
    #[arg(long)]
    pub out: PathBuf,
    /// The 2-D data set drawn under a scatter plot.
    #[arg(long, value_enum)]
    pub data: Option<Toy2d>,
    /// Also write a PNG strip of the denoising trajectory.
    #[arg(long)]
    pub trajectory: Option<PathBuf>,
    /// Overwrite existing outputs.
    #[arg(long)]
    pub force: bool,
}

/// Runs the command.
pub fn run(args: &Args) -> Result<(), Error> {
    let mut m = load(&args.model, args.engine, &args.sampler, args.guidance)?;
    let labels: Vec<u16> = match (m.num_classes, args.label) {
        (0, Some(_)) => {
            return Err(Error::Input(
                "--label given, but the model is unconditional".into(),
            ));
        }
        (0, None) => vec![],
        (c, Some(l)) if l >= c => {
            return Err(Error::Input(format!(
                "--label {l}: the model has {c} classes"
            )));
        }
        (_, Some(l)) => vec![l; args.samples],
        (c, None) => (0..args.samples)
            .map(|i| (i % usize::from(c)) as u16)
            .collect(),
    };
    let init = match &args.init {
        Some(p) => {
            let v = read_csv(p, m.dim)?;
            if v.len() != args.samples * m.dim {
                return Err(Error::Input(format!(
                    "{}: {} samples, --samples is {}",
                    p.display(),
                    v.len() / m.dim,
                    args.samples
                )));
            }
            let steps = m.plan.rows.len();
            let start = match args.noise_std {
                Some(s) => sampler::noise_step(m.plan.rows.as_slice(), s)
                    .map(SignalStart::Denoise)
                    .ok_or_else(|| Error::Input("--noise-std must be positive".into()))?,
                None => sampler::sdedit_start(steps, args.strength)
                    .map(SignalStart::Edit)
                    .ok_or_else(|| Error::Input("--strength must be in (0, 1]".into()))?,
            };
            Some((v, start))
        }
        None => None,
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
    let bar = indicatif::ProgressBar::new(m.plan.rows.len() as u64);
    let mut frames: Vec<Vec<f32>> = vec![];
    let keep = args.trajectory.is_some();
    let start = std::time::Instant::now();
    let x = super::in_model(
        &args.model.display().to_string(),
        job.run_from(
            &mut Dyn(m.denoiser.as_mut()),
            init.as_ref().map(|(v, s)| (v.as_slice(), *s)),
            &mut |_, x| {
                bar.inc(1);
                if keep {
                    frames.push(x.to_vec());
                }
            },
        ),
    )?;
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    write_samples(&args.out, &x, m.dim, &labels, args.data, args.force)?;
    if let Some(t) = &args.trajectory {
        let imgs: Vec<_> = frames
            .iter()
            .map(|f| {
                if m.dim == 2 {
                    plot::scatter(
                        f,
                        &args.data.map(|d| d.sample(5000, 99)).unwrap_or_default(),
                    )
                } else {
                    plot::digit_grid(&f[..m.dim.min(f.len())], &[], 1)
                }
            })
            .collect();
        plot::save_png(&plot::strip(&imgs), t, args.force)?;
    }
    println!(
        "{} samples with {:?} in {secs:.2} s -> {}",
        args.samples,
        args.engine,
        args.out.display()
    );
    Ok(())
}

/// Reads a CSV of `dim` values per row.
pub fn read_csv(path: &Path, dim: usize) -> Result<Vec<f32>, Error> {
    let text = String::from_utf8(read(path)?)
        .map_err(|_| Error::Input(format!("{}: not UTF-8 text", path.display())))?;
    let mut v = vec![];
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let row: Vec<f32> = line
            .split(',')
            .map(|s| s.trim().parse::<f32>())
            .collect::<Result<_, _>>()
            .map_err(|_| {
                Error::Input(format!("{}: line {}: not numbers", path.display(), i + 1))
            })?;
        if row.len() != dim {
            return Err(Error::Input(format!(
                "{}: line {}: {} values, the model's samples have {dim}",
                path.display(),
                i + 1,
                row.len()
            )));
        }
        v.extend(row);
    }
    Ok(v)
}

/// Writes samples as CSV, `.npy` or PNG, by extension.
pub fn write_samples(
    path: &Path,
    x: &[f32],
    dim: usize,
    labels: &[u16],
    data: Option<Toy2d>,
    force: bool,
) -> Result<(), Error> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => {
            let mut s = String::new();
            for row in x.chunks(dim) {
                s.push_str(&row.iter().map(f32::to_string).collect::<Vec<_>>().join(","));
                s.push('\n');
            }
            write_atomic(path, s.as_bytes(), force)
        }
        Some("npy") => write_atomic(path, &npy(x, dim), force),
        Some("png") => {
            let img = if dim == 2 {
                plot::scatter(x, &data.map(|d| d.sample(20_000, 99)).unwrap_or_default())
            } else {
                let n = (x.len() / dim).min(100);
                plot::digit_grid(&x[..n * dim], labels, 10)
            };
            plot::save_png(&img, path, force)
        }
        _ => Err(Error::Input(format!(
            "{}: unknown output format; use .csv, .npy or .png",
            path.display()
        ))),
    }
}

/// NumPy `.npy` (format 1.0) of an `n x dim` little-endian f32 array.
fn npy(x: &[f32], dim: usize) -> Vec<u8> {
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}",
        x.len() / dim.max(1),
        dim
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(x.iter().flat_map(|v| v.to_le_bytes()));
    out
}
