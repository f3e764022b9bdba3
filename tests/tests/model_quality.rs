//! Quality bounds of the shipped models, int8 against float, with the seeded sampler.
//!
//! Each bound is on the mean of two seeds, with float measured in the same run. Measured
//! run-to-run (seeds 0 and 1):
//! - two-moons (v prediction), 5,000 samples: sliced W1 int8 / float differs by about 10%
//!   between seeds (0.99 and 0.88 at 10,000 samples); the bound is 1.2;
//! - two-moons-flow (flow matching, Euler 50), 5,000 samples: int8 / float 1.08 and 1.06 at
//!   10,000 samples;
//! - digits MLP (v prediction), 500 samples: Fréchet distance int8 / float 1.02-1.03;
//! - digits U-Net (noise prediction, guidance 2), 300 samples: the Fréchet distance varies by
//!   about +-0.5 around 8 for both float and int8;
//! - digits attention U-Net (PyTorch, v prediction, guidance 2), 300 samples: see its model
//!   card.

use edgediff::data::Toy2d;
use edgediff::data::digits::Digits;
use edgediff::eval::classifier::{Classifier, DigitsQuality, quality_digits};
use edgediff::eval::quality_2d;
use edgediff::pipeline::sampler_args;
use edgediff::pipeline::{Dyn, EngineName, load};
use edgediff::sampling::Job;
use std::path::PathBuf;

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}

/// `n` samples of shipped model `name` through `engine` (`file` in its folder).
fn samples(
    name: &str,
    engine: EngineName,
    file: &str,
    n: usize,
    labels: &[u16],
    guidance: f32,
    seed: u64,
) -> Vec<f32> {
    let shipped = edgediff::pipeline::SHIPPED.iter().find(|m| m.name == name);
    let args = sampler_args(shipped.expect("a shipped model").sampler);
    let mut l = load(&models().join(name).join(file), engine, &args, guidance).unwrap();
    let job = Job {
        plan: &l.plan,
        prediction: l.prediction,
        clip_sample: l.clip,
        dim: l.dim,
        n,
        labels,
        seed,
    };
    job.run(&mut Dyn(l.denoiser.as_mut())).unwrap()
}

/// Digits quality of the int8 model (runtime) and the float model (tract) for seeds 0 and 1.
fn digits_int8_and_float(
    name: &str,
    n: usize,
    labels: &[u16],
    guidance: f32,
) -> Vec<(DigitsQuality, DigitsQuality)> {
    let m = models();
    let c = Classifier::load(&m.join("digits-classifier/classifier.bin")).unwrap();
    let real = Digits::load(&m.join("data/digits.csv.gz")).unwrap();
    (0..2)
        .map(|seed| {
            let q = |engine, file| {
                let x = samples(name, engine, file, n, labels, guidance, seed);
                quality_digits(&c, &x, labels, &real)
            };
            let (qi, qf) = (
                q(EngineName::Runtime, "model.pack"),
                q(EngineName::TractFloat, "float.onnx"),
            );
            println!(
                "{name} seed {seed}: FD int8 {:.2} float {:.2} (floor {:.2}); label accuracy int8 {:?} float {:?}",
                qi.fd, qf.fd, qi.fd_floor, qi.label_accuracy, qf.label_accuracy
            );
            (qi, qf)
        })
        .collect()
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = v.collect();
    v.iter().sum::<f64>() / v.len() as f64
}

/// Mean sliced W1 of the int8 (runtime) and float (tract) samples of a shipped 2-D model over
/// seeds 0 and 1 (5,000 samples each).
fn two_moons_int8_and_float(name: &str) -> (f64, f64) {
    let runs: Vec<(f64, f64)> = (0..2)
        .map(|seed| {
            let sw1 = |engine, file| {
                let x = samples(name, engine, file, 5000, &[], 1.0, seed);
                quality_2d(&x, Toy2d::TwoMoons, seed)
            };
            let (qi, qf) = (
                sw1(EngineName::Runtime, "model.pack"),
                sw1(EngineName::TractFloat, "float.onnx"),
            );
            println!(
                "{name} seed {seed}: sliced W1 int8 {:.4} float {:.4} (floor {:.4})",
                qi.sw1, qf.sw1, qi.sw1_floor
            );
            (qi.sw1, qf.sw1)
        })
        .collect();
    (
        mean(runs.iter().map(|r| r.0)),
        mean(runs.iter().map(|r| r.1)),
    )
}

#[test]
fn int8_two_moons_sliced_w1_is_within_20_percent_of_float() {
    let (int8, float) = two_moons_int8_and_float("two-moons");
    assert!(int8 <= 1.2 * float, "int8 {int8:.4} vs float {float:.4}");
}

/// The flow-matching model (Euler, 50 steps): int8 within 20% of float, and both near the
/// data (at 10,000 samples float 0.0140 / 0.0171, int8 0.0151 / 0.0182; floor 0.0118 / 0.0083).
#[test]
fn int8_two_moons_flow_sliced_w1_is_within_20_percent_of_float() {
    let (int8, float) = two_moons_int8_and_float("two-moons-flow");
    assert!(int8 <= 1.2 * float, "int8 {int8:.4} vs float {float:.4}");
    assert!(float < 0.03, "float {float:.4}");
}

#[test]
fn int8_digits_mlp_frechet_distance_is_within_20_percent_of_float() {
    let runs = digits_int8_and_float("digits-mlp", 500, &[], 1.0);
    let (int8, float) = (
        mean(runs.iter().map(|r| r.0.fd)),
        mean(runs.iter().map(|r| r.1.fd)),
    );
    assert!(int8 <= 1.2 * float, "int8 FD {int8:.2} vs float {float:.2}");
}

#[test]
fn conditional_digits_unet_int8_matches_float_quality() {
    let labels: Vec<u16> = (0..300).map(|i| (i % 10) as u16).collect();
    let runs = digits_int8_and_float("digits-unet", 300, &labels, 2.0);
    let (int8, float) = (
        mean(runs.iter().map(|r| r.0.fd)),
        mean(runs.iter().map(|r| r.1.fd)),
    );
    let accuracy = mean(runs.iter().map(|r| r.0.label_accuracy.unwrap()));
    assert!(int8 <= 1.2 * float, "int8 FD {int8:.2} vs float {float:.2}");
    assert!(accuracy >= 0.9, "label accuracy {accuracy}");
}

/// The attention U-Net trained in PyTorch (v-prediction, guidance 2).
#[test]
fn conditional_digits_attn_int8_matches_float_quality() {
    let labels: Vec<u16> = (0..300).map(|i| (i % 10) as u16).collect();
    let runs = digits_int8_and_float("digits-attn", 300, &labels, 2.0);
    let (int8, float) = (
        mean(runs.iter().map(|r| r.0.fd)),
        mean(runs.iter().map(|r| r.1.fd)),
    );
    let accuracy = mean(runs.iter().map(|r| r.0.label_accuracy.unwrap()));
    assert!(int8 <= 1.2 * float, "int8 FD {int8:.2} vs float {float:.2}");
    assert!(accuracy >= 0.9, "label accuracy {accuracy}");
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
    // The defaults: linear betas 0.0001..0.02 over 1000 steps, as the model was trained.
    let schedule = ScheduleArgs::default();
    let args = Args {
        model: models().join("two-moons/float.onnx"),
        data: Toy2d::TwoMoons,
        samples: 1000,
        draws: 20,
        schedule,
        seed: 0,
        prediction: None,
    };
    let (f, q) = float_and_int8(&args).unwrap();
    println!(
        "two-moons bound: float {:.4}, int8 {:.4} nats/dim",
        f.total, q.total
    );
    // Measured on 1,000 points: float / int8 = 0.934 / 0.960 (seed 0), 0.751 / 0.766
    // (seed 1). The estimate moves by ~0.2 between seeds (20 timesteps per point), but float
    // and int8 see the same timesteps and noise, so their difference stays within a few
    // hundredths of a nat per dimension.
    assert!(f.total.is_finite() && q.total.is_finite());
    assert!(f.total < 1.2 && q.total < 1.2, "{f:?} {q:?}");
    assert!((q.total - f.total).abs() < 0.1, "{f:?} {q:?}");
}

/// Calibration's tail trajectories keep rare, large starting noise inside the int8 network's
/// ranges. Without them 4 of 10,000 samples of the earlier noise-prediction two-moons model
/// (seed 0) ran away to |x| up to 85 (the data lies within |x| < 2.5). The v-prediction model
/// has none of 30,000 (seeds 0..3) beyond 3 (max 2.49).
#[test]
fn int8_two_moons_trajectories_do_not_run_away() {
    let (mut beyond_3, mut max) = (0, 0.0f32);
    for seed in 0..3 {
        let x = samples(
            "two-moons",
            EngineName::Runtime,
            "model.pack",
            10_000,
            &[],
            1.0,
            seed,
        );
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

/// The ECG-like signal model (PyTorch 1-D U-Net, noise prediction): generation within 20% of
/// float (sliced W1 to fresh signals, 1,000 samples, mean of two seeds), and denoising noisy
/// recordings on the runtime lowers their error to the clean signals at least twofold.
#[test]
fn ecg_int8_matches_float_and_denoises_recordings() {
    use edgediff::data::ecg;
    use edgediff::eval::swd::sliced_w1;
    use edgediff_runtime::sampler::{SignalStart, noise_step};
    let n = 1000;
    let (mut int8, mut float) = (0.0, 0.0);
    for seed in 0..2 {
        let real = ecg::signals(n, 100 + seed);
        let w1 = |s: &[f32]| sliced_w1(s, &real, ecg::LEN, 64, seed).unwrap();
        let gen_ = |engine, file| samples("ecg-unet1d", engine, file, n, &[], 1.0, seed);
        let (qi, qf) = (
            w1(&gen_(EngineName::Runtime, "model.pack")),
            w1(&gen_(EngineName::TractFloat, "float.onnx")),
        );
        let floor = w1(&ecg::signals(n, 200 + seed));
        println!("ecg seed {seed}: sliced W1 int8 {qi:.4} float {qf:.4} (floor {floor:.4})");
        int8 += qi;
        float += qf;
    }
    assert!(int8 <= 1.2 * float, "int8 {int8} vs float {float}");
    // Denoising 200 recordings on the runtime.
    let clean = ecg::signals(200, 7);
    let noisy = ecg::recorded(&clean, 8);
    let args = sampler_args("--sampler dpmpp --steps 20 --spacing linspace");
    let mut l = load(
        &models().join("ecg-unet1d/model.pack"),
        EngineName::Runtime,
        &args,
        1.0,
    )
    .unwrap();
    let start = noise_step(l.plan.rows.as_slice(), ecg::recording_std()).unwrap();
    let job = Job {
        plan: &l.plan,
        prediction: l.prediction,
        clip_sample: l.clip,
        dim: l.dim,
        n: 200,
        labels: &[],
        seed: 0,
    };
    let out = job
        .run_from(
            &mut Dyn(l.denoiser.as_mut()),
            Some((&noisy, SignalStart::Denoise(start))),
            &mut |_, _| {},
        )
        .unwrap();
    let (before, after) = (ecg::rms_error(&noisy, &clean), ecg::rms_error(&out, &clean));
    println!("ecg denoising from step {start}: RMS error {before:.4} -> {after:.4}");
    assert!(after < 0.5 * before, "{before} -> {after}");
}
