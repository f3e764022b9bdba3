//! `edgediff demo`: the main job.
//!
//! For every shipped model: samples through the no_std runtime (model pack), tract on the
//! int8 ONNX and tract on the float ONNX with the same seed, and prints the agreement, the
//! quality against fresh data, the flash/RAM budget and the timings, and writes pictures.
//! Then every sampler of the runtime against the exact denoiser of a Gaussian mixture, where
//! all error comes from the sampler and its step count.

use super::Error;
use crate::data::GaussianMixture;
use crate::data::digits::Digits;
use crate::data::ecg;
use crate::eval::classifier::{Classifier, quality_digits};
use crate::eval::quality_2d;
use crate::eval::swd::sliced_w1;
use crate::pipeline::{Dyn, EngineName, load};
use crate::pipeline::{SHIPPED, Shipped, ShippedData, sampler_args};
use crate::plot;
use crate::sampling::Job;
use edgediff_runtime::prediction::PredictionType;
use edgediff_runtime::sampler::plan::{self, Corrector, DdpmVariance, PlanConfig, SamplerKind};
use edgediff_runtime::sampler::{SignalStart, noise_step};
use edgediff_runtime::schedule::betas::{BetaSchedule, NoiseSchedule};
use edgediff_runtime::schedule::spacing::Spacing;
use std::path::PathBuf;
use std::time::Instant;

/// Options of `edgediff demo`.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Samples per model and engine (2-D models; digits use a tenth).
    #[arg(long, default_value_t = 2000)]
    pub samples: usize,
    /// Noise seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The folder holding the shipped models.
    #[arg(long, default_value = "models")]
    pub models: PathBuf,
    /// Where the pictures go.
    #[arg(long, default_value = "out/demo")]
    pub out: PathBuf,
}

/// Projections used for the sliced Wasserstein distance.
const DIRECTIONS: usize = 64;

/// The sampler line-up of the demo: a name and its plan.
pub fn lineup() -> Vec<(&'static str, PlanConfig)> {
    let dpm = SamplerKind::DPM_SOLVER_PP_2M;
    let dpm3 = SamplerKind::DpmSolverPp {
        order: 3,
        lower_order_final: true,
    };
    let unipc = |order| SamplerKind::UniPc {
        order,
        lower_order_final: true,
    };
    let ddim = SamplerKind::Ddim { eta: 0.0 };
    let pc = |sampler, steps, corrector_steps| PlanConfig {
        corrector: Some(Corrector {
            snr: 0.16,
            steps: corrector_steps,
        }),
        ..PlanConfig::new(sampler, steps, Spacing::Trailing)
    };
    vec![
        (
            "DDPM",
            PlanConfig::new(
                SamplerKind::Ddpm {
                    variance: DdpmVariance::FixedSmall,
                },
                1000,
                Spacing::Leading,
            ),
        ),
        ("DDIM", PlanConfig::new(ddim, 50, Spacing::Trailing)),
        ("DDIM", PlanConfig::new(ddim, 20, Spacing::Trailing)),
        ("DDIM", PlanConfig::new(ddim, 10, Spacing::Trailing)),
        (
            "DPM-Solver++ 2M",
            PlanConfig::new(dpm, 20, Spacing::Linspace),
        ),
        (
            "DPM-Solver++ 2M",
            PlanConfig::new(dpm, 10, Spacing::Linspace),
        ),
        (
            "DPM-Solver++ 2M",
            PlanConfig::new(dpm, 5, Spacing::Linspace),
        ),
        (
            "DPM-Solver++ 3M",
            PlanConfig::new(dpm3, 10, Spacing::Linspace),
        ),
        (
            "DPM-Solver++ 3M",
            PlanConfig::new(dpm3, 5, Spacing::Linspace),
        ),
        ("UniPC 2", PlanConfig::new(unipc(2), 10, Spacing::Linspace)),
        ("UniPC 2", PlanConfig::new(unipc(2), 5, Spacing::Linspace)),
        ("UniPC 3", PlanConfig::new(unipc(3), 10, Spacing::Linspace)),
        ("UniPC 3", PlanConfig::new(unipc(3), 5, Spacing::Linspace)),
        (
            "SDE-DPM-Solver++ 2M",
            PlanConfig::new(
                SamplerKind::SdeDpmSolverPp {
                    order: 2,
                    lower_order_final: true,
                },
                20,
                Spacing::Linspace,
            ),
        ),
        (
            "Heun",
            PlanConfig::new(SamplerKind::Heun, 10, Spacing::Trailing),
        ),
        (
            "Euler",
            PlanConfig::new(SamplerKind::Euler, 20, Spacing::Trailing),
        ),
        (
            "Euler ancestral",
            PlanConfig::new(SamplerKind::EulerAncestral, 50, Spacing::Trailing),
        ),
        ("DDIM + Langevin corrector", pc(ddim, 20, 1)),
        ("annealed Langevin", pc(SamplerKind::Langevin, 100, 5)),
    ]
}

/// Runs the demo.
pub fn run(args: &Args) -> Result<(), Error> {
    println!(
        "edgediff demo: the shipped models, sampled on this machine by the no_std runtime (int8)"
    );
    println!(
        "and by tract (the same int8 ONNX, and the float ONNX), with the same seeded noise.\n"
    );
    for m in SHIPPED {
        shipped_model(m, args)?;
    }
    exact_denoiser_table(args)?;
    println!("\npictures: {}", args.out.display());
    Ok(())
}

fn shipped_model(m: &Shipped, args: &Args) -> Result<(), Error> {
    let dir = args.models.join(m.name);
    let sargs = sampler_args(m.sampler);
    let pack_bytes = crate::files::read(&dir.join("model.pack"))?;
    let pack = edgediff_runtime::pack::Pack::parse(&pack_bytes)?;
    let meta = *pack.meta();
    let n = match m.data {
        ShippedData::Toy2d(_) => args.samples,
        ShippedData::Digits | ShippedData::Signals => (args.samples / 10).max(10),
    };
    let labels: Vec<u16> = if meta.num_classes > 0 {
        (0..n)
            .map(|i| (i % usize::from(meta.num_classes)) as u16)
            .collect()
    } else {
        vec![]
    };
    let run = |engine: EngineName, file: &str| -> Result<(Vec<f32>, f64), Error> {
        let mut l = load(&dir.join(file), engine, &sargs, meta.guidance)?;
        let job = Job {
            plan: &l.plan,
            prediction: l.prediction,
            clip_sample: l.clip,
            dim: l.dim,
            n,
            labels: &labels,
            seed: args.seed,
        };
        let start = Instant::now();
        let x = job.run(&mut Dyn(l.denoiser.as_mut()))?;
        Ok((x, start.elapsed().as_secs_f64()))
    };
    let (rt, t_rt) = run(EngineName::Runtime, "model.pack")?;
    let (tr, t_tr) = run(EngineName::Tract, "int8.onnx")?;
    let (fl, t_fl) = run(EngineName::TractFloat, "float.onnx")?;
    let same = rt
        .iter()
        .zip(&tr)
        .filter(|(a, b)| a.to_bits() == b.to_bits())
        .count();
    let max = rt
        .iter()
        .zip(&tr)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let evals = pack.meta().steps as usize * n;
    println!(
        "== {} ({}-D, {} steps of {}) ==",
        m.name,
        meta.sample_len(),
        meta.steps,
        m.sampler
    );
    println!(
        "  budget: flash {} bytes (pack), RAM {} bytes arena + {} bytes sampler state per sample, {} MACs per evaluation",
        pack_bytes.len(),
        pack.arena_bytes(),
        pack.state_bytes(),
        meta.macs
    );
    println!(
        "  agreement runtime vs tract (int8): {same}/{} values bit-identical, max |diff| {max}",
        rt.len()
    );
    println!(
        "  time for {n} samples ({evals} evaluations): runtime {:.0} ms, tract int8 {:.0} ms, tract float {:.0} ms",
        1e3 * t_rt,
        1e3 * t_tr,
        1e3 * t_fl
    );
    std::fs::create_dir_all(&args.out).map_err(|e| Error::io(&args.out, e))?;
    match m.data {
        ShippedData::Toy2d(data) => {
            let q_int = quality_2d(&rt, data, args.seed);
            let q_fl = quality_2d(&fl, data, args.seed);
            println!(
                "  quality (sliced W1 to fresh data; floor {:.4}): int8 {:.4}, float {:.4}; MMD^2 int8 {:.5}, float {:.5}",
                q_int.sw1_floor, q_int.sw1, q_fl.sw1, q_int.mmd2, q_fl.mmd2
            );
            let bg = data.sample(20_000, 99);
            plot::save_png(
                &plot::scatter(&rt, &bg),
                &args.out.join(format!("{}-int8.png", m.name)),
                true,
            )?;
            plot::save_png(
                &plot::scatter(&fl, &bg),
                &args.out.join(format!("{}-float.png", m.name)),
                true,
            )?;
        }
        ShippedData::Digits => {
            let c = Classifier::load(&args.models.join("digits-classifier/classifier.bin"))?;
            let real = Digits::load(&args.models.join("data/digits.csv.gz"))?;
            let (qi, qf) = (
                quality_digits(&c, &rt, &labels, &real),
                quality_digits(&c, &fl, &labels, &real),
            );
            let acc = |q: &crate::eval::classifier::DigitsQuality| {
                q.label_accuracy
                    .map_or("-".into(), |a| format!("{:.1}%", 100.0 * a))
            };
            println!(
                "  quality (classifier-feature Fréchet distance; floor {:.2}): int8 {:.2}, float {:.2}; label accuracy int8 {}, float {}",
                qi.fd_floor,
                qi.fd,
                qf.fd,
                acc(&qi),
                acc(&qf)
            );
            println!(
                "  class histogram int8 {:?}, float {:?}",
                qi.histogram, qf.histogram
            );
            let k = (rt.len() / 64).min(100) * 64;
            plot::save_png(
                &plot::digit_grid(&rt[..k], &labels, 10),
                &args.out.join(format!("{}-int8.png", m.name)),
                true,
            )?;
            plot::save_png(
                &plot::digit_grid(&fl[..k], &labels, 10),
                &args.out.join(format!("{}-float.png", m.name)),
                true,
            )?;
        }
        ShippedData::Signals => {
            let dim = ecg::LEN;
            let real = ecg::signals(n, args.seed.wrapping_add(1));
            let w1 = |s: &[f32]| sliced_w1(s, &real, dim, DIRECTIONS, 7).unwrap_or(f64::NAN);
            let floor = w1(&ecg::signals(n, args.seed.wrapping_add(2)));
            println!(
                "  quality (sliced W1 to fresh signals; floor {floor:.4}): int8 {:.4}, float {:.4}",
                w1(&rt),
                w1(&fl)
            );
            // Float (grey) and int8 (red) from the same noise, one sample per panel.
            let panels: Vec<Vec<&[f32]>> = (0..4.min(n))
                .map(|i| {
                    let s = i * dim..(i + 1) * dim;
                    vec![&fl[s.clone()], &rt[s]]
                })
                .collect();
            plot::save_png(
                &plot::signal_panels(&panels),
                &args.out.join(format!("{}.png", m.name)),
                true,
            )?;
            denoise_recordings(&dir, &sargs, meta.guidance, n, args)?;
        }
    }
    Ok(())
}

/// Denoising on the runtime: fresh signals with recording noise and mains hum enter the chain
/// at the step of their noise level ([`SignalStart::Denoise`]) and are denoised from there;
/// prints the error to the clean signals before and after and plots a few.
fn denoise_recordings(
    dir: &std::path::Path,
    sargs: &crate::cli::sampler_args::SamplerArgs,
    guidance: f32,
    n: usize,
    args: &Args,
) -> Result<(), Error> {
    let clean = ecg::signals(n, args.seed.wrapping_add(3));
    let noisy = ecg::recorded(&clean, args.seed.wrapping_add(4));
    let mut l = load(
        &dir.join("model.pack"),
        EngineName::Runtime,
        sargs,
        guidance,
    )?;
    let steps = l.plan.rows.len();
    let start = noise_step(l.plan.rows.as_slice(), ecg::recording_std())
        .ok_or_else(|| Error::Input("recording noise must be positive".into()))?;
    let job = Job {
        plan: &l.plan,
        prediction: l.prediction,
        clip_sample: l.clip,
        dim: l.dim,
        n,
        labels: &[],
        seed: args.seed,
    };
    let out = job.run_from(
        &mut Dyn(l.denoiser.as_mut()),
        Some((&noisy, SignalStart::Denoise(start))),
        &mut |_, _| {},
    )?;
    println!(
        "  denoising {n} recordings (noise {} + {} mains hum, std {:.3}: from step {start}, {} of \
         {steps} steps): RMS error to the clean signal {:.4} -> {:.4}",
        ecg::RECORDING_NOISE,
        ecg::MAINS_HUM,
        ecg::recording_std(),
        steps - start,
        ecg::rms_error(&noisy, &clean),
        ecg::rms_error(&out, &clean)
    );
    // Recorded (grey), clean (red), denoised on the runtime (blue).
    let dim = ecg::LEN;
    let panels: Vec<Vec<&[f32]>> = (0..4.min(n))
        .map(|i| {
            let s = i * dim..(i + 1) * dim;
            vec![&noisy[s.clone()], &clean[s.clone()], &out[s]]
        })
        .collect();
    plot::save_png(
        &plot::signal_panels(&panels),
        &args.out.join("ecg-denoise.png"),
        true,
    )
}

/// Samplers against the exact denoiser of the eight-Gaussians mixture.
fn exact_denoiser_table(args: &Args) -> Result<(), Error> {
    let schedule = NoiseSchedule::new(&BetaSchedule::DDPM_LINEAR, 1000)?;
    let mixture = GaussianMixture::eight_gaussians();
    let n = args.samples;
    let data = mixture.sample(n, args.seed.wrapping_add(1));
    let floor_draw = mixture.sample(n, args.seed.wrapping_add(2));
    let floor = sliced_w1(&data, &floor_draw, 2, DIRECTIONS, 7).unwrap_or(f64::NAN);
    println!(
        "\n== every sampler with the exact denoiser of an eight-Gaussians mixture ({n} samples) =="
    );
    println!(
        "{:<28} {:>6} {:>6} {:>10} {:>8} {:>9}",
        "sampler", "steps", "evals", "sliced W1", "x floor", "time ms"
    );
    println!(
        "{:<28} {:>6} {:>6} {:>10.4} {:>8.2} {:>9}",
        "(noise floor)", "-", "-", floor, 1.0, "-"
    );
    for (name, cfg) in lineup() {
        let plan = plan::build(&schedule, &cfg)?;
        let job = Job {
            plan: &plan,
            prediction: PredictionType::Epsilon,
            clip_sample: None,
            dim: 2,
            n,
            labels: &[],
            seed: args.seed,
        };
        let mut denoiser = mixture.denoiser(&schedule);
        let start = Instant::now();
        let samples = job.run(&mut denoiser)?;
        let ms = start.elapsed().as_secs_f64() * 1e3;
        let d = sliced_w1(&samples, &data, 2, DIRECTIONS, 7).unwrap_or(f64::NAN);
        println!(
            "{name:<28} {:>6} {:>6} {d:>10.4} {:>8.2} {ms:>9.1}",
            cfg.steps,
            plan.evaluations(),
            d / floor
        );
    }
    Ok(())
}
