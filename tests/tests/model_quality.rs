//! Quality bounds of the shipped models, int8 against float, with the seeded sampler.
//!
//! Measured run-to-run (seeds 0..3, 300 samples): the U-Net's feature Fréchet distance varies
//! by about +-0.5 around 8 for both float and int8, so the 20% bound of the issue is tested on
//! the mean of two seeds, with float measured in the same run.

use edgediff::cli::demo::sampler_args;
use edgediff::cli::sample::{Dyn, EngineName, load};
use edgediff::data::digits::Digits;
use edgediff::eval::classifier::{Classifier, quality_digits};
use edgediff::sampling::Job;
use std::path::PathBuf;

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}

#[test]
fn conditional_digits_unet_int8_matches_float_quality() {
    let m = models();
    let c = Classifier::load(&m.join("digits-classifier/classifier.bin")).unwrap();
    let real = Digits::load(&m.join("data/digits.csv.gz")).unwrap();
    let args = sampler_args("--sampler dpmpp --steps 20 --spacing linspace");
    let n = 300;
    let labels: Vec<u16> = (0..n).map(|i| (i % 10) as u16).collect();
    let score = |engine, file: &str, seed| {
        let mut l = load(&m.join("digits-unet").join(file), engine, &args, 2.0).unwrap();
        let job = Job {
            plan: &l.plan,
            prediction: l.prediction,
            clip_sample: l.clip,
            dim: l.dim,
            n,
            labels: &labels,
            seed,
        };
        let x = job.run(&mut Dyn(l.denoiser.as_mut())).unwrap();
        quality_digits(&c, &x, &labels, &real)
    };
    let (mut fd_int, mut fd_float, mut acc_int) = (0.0, 0.0, 0.0);
    for seed in 0..2 {
        let qi = score(EngineName::Runtime, "model.pack", seed);
        let qf = score(EngineName::TractFloat, "float.onnx", seed);
        println!(
            "seed {seed}: FD int8 {:.2} float {:.2} (floor {:.2}); label accuracy int8 {:?} float {:?}",
            qi.fd, qf.fd, qi.fd_floor, qi.label_accuracy, qf.label_accuracy
        );
        fd_int += qi.fd / 2.0;
        fd_float += qf.fd / 2.0;
        acc_int += qi.label_accuracy.unwrap() / 2.0;
    }
    assert!(
        fd_int <= 1.2 * fd_float,
        "int8 FD {fd_int:.2} vs float {fd_float:.2}"
    );
    assert!(acc_int >= 0.9, "label accuracy {acc_int}");
}

#[test]
fn the_digits_classifier_is_accurate_on_held_out_digits() {
    let m = models();
    let c = Classifier::load(&m.join("digits-classifier/classifier.bin")).unwrap();
    let real = Digits::load(&m.join("data/digits.csv.gz")).unwrap();
    let start = edgediff::eval::classifier::TRAIN_ROWS;
    let held = real.len() - start;
    let correct = (start..real.len())
        .filter(|i| c.predict(&real.images[i * 64..(i + 1) * 64]) == real.labels[*i] as usize)
        .count();
    let acc = correct as f64 / held as f64;
    println!(
        "classifier held-out accuracy {:.2}% on {held} digits",
        100.0 * acc
    );
    assert!(acc >= 0.9, "{acc}");
}

#[test]
fn two_moons_variational_bound_float_and_int8() {
    use edgediff::cli::elbo::{Args, float_and_int8};
    use edgediff::cli::sampler_args::ScheduleArgs;
    use edgediff::data::Toy2d;
    let schedule = ScheduleArgs {
        betas: edgediff::cli::sampler_args::BetaName::Linear,
        beta_start: 1e-4,
        beta_end: 0.02,
        train_steps: 1000,
        zero_snr: false,
    };
    let args = Args {
        model: models().join("two-moons/float.onnx"),
        data: Toy2d::TwoMoons,
        samples: 1000,
        draws: 20,
        schedule,
        seed: 0,
    };
    let (f, q) = float_and_int8(&args).unwrap();
    println!(
        "two-moons bound: float {:.4}, int8 {:.4} nats/dim",
        f.total, q.total
    );
    // Measured on 1,000 points: float / int8 = 0.947 / 0.973 (seed 0), 0.758 / 0.756
    // (seed 1). The estimate moves by ~0.2 between seeds (20 timesteps per point), but float
    // and int8 see the same timesteps and noise, so their difference stays within a few
    // hundredths of a nat per dimension.
    assert!(f.total.is_finite() && q.total.is_finite());
    assert!(f.total < 1.2 && q.total < 1.2, "{f:?} {q:?}");
    assert!((q.total - f.total).abs() < 0.1, "{f:?} {q:?}");
}

/// Calibration's tail trajectories keep rare, large starting noise inside the int8 network's
/// ranges. Without them 4 of 10,000 two-moons samples (seed 0) ran away to |x| up to 85 (the
/// data lies within |x| < 2.5); with them, 1 of 30,000 (seeds 0..3) passes 3, at 5.4.
#[test]
fn int8_two_moons_trajectories_do_not_run_away() {
    let m = models();
    let args = sampler_args("--sampler dpmpp --steps 20 --spacing linspace");
    let mut l = load(
        &m.join("two-moons/model.pack"),
        EngineName::Runtime,
        &args,
        1.0,
    )
    .unwrap();
    let (mut beyond_3, mut max) = (0, 0.0f32);
    for seed in 0..3 {
        let job = Job {
            plan: &l.plan,
            prediction: l.prediction,
            clip_sample: l.clip,
            dim: 2,
            n: 10_000,
            labels: &[],
            seed,
        };
        let x = job.run(&mut Dyn(l.denoiser.as_mut())).unwrap();
        for p in x.chunks_exact(2) {
            let r = p[0].hypot(p[1]);
            beyond_3 += usize::from(r > 3.0);
            max = max.max(r);
        }
    }
    println!("{beyond_3} of 30,000 beyond |x| = 3, max |x| {max:.2}");
    assert!(
        beyond_3 <= 2 && max < 10.0,
        "{beyond_3} beyond 3, max {max}"
    );
}
