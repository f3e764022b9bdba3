//! Criterion benches of the shipped models on the desktop.
//!
//! - `eval/<model>/<engine>/<batch>`: one network evaluation of a batch of 1 or 64 samples at
//!   the middle sampling step, through the runtime with its reference kernels, the runtime
//!   with its optimized kernels, tract on the int8 ONNX and tract on the float ONNX. (The
//!   ONNX models have a static batch of 1, so tract evaluates a batch sample by sample, as
//!   the runtime does; a guided model evaluates twice per sample in every engine.)
//! - `sample/two-moons/<sampler>`: one full sample (the whole reverse process) of the
//!   two-moons model for each sampler at its usual step count, runtime (optimized) against
//!   tract int8, each int8 model quantized for that sampler.
//!
//! `scripts/bench.sh` runs them and writes BENCHMARKS.md; `cargo test --benches` runs each
//! once (CI does, so they never rot).

use criterion::{BenchmarkId, Criterion, criterion_main};
use edgediff::compile::writer::write_pack;
use edgediff::engines::{TractDenoiser, TractInput};
use edgediff::onnx::{qonnx, read_model};
use edgediff::pipeline::quantize_for_plan;
use edgediff::pipeline::{EngineName, load};
use edgediff::pipeline::{SHIPPED, sampler_args};
use edgediff::sampling::Job;
use edgediff_runtime::Denoiser;
use edgediff_runtime::engine::{Engine, Kernels};
use edgediff_runtime::noise::{GaussianNoise, NoiseSource};
use edgediff_runtime::pack::Pack;
use std::hint::black_box;
use std::path::PathBuf;

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}

fn normals(n: usize, seed: u64) -> Vec<f32> {
    let mut g = GaussianNoise::new(seed);
    (0..n).map(|_| g.next_normal().unwrap_or(0.0)).collect()
}

fn per_evaluation(c: &mut Criterion) {
    for m in SHIPPED {
        let dir = models().join(m.name);
        let args = sampler_args(m.sampler);
        let bytes = std::fs::read(dir.join("model.pack")).expect("shipped pack");
        let pack = Pack::parse(&bytes).expect("valid pack");
        let meta = *pack.meta();
        let plan = args.resolve().unwrap().plan().unwrap();
        let step = plan.rows.len() / 2;
        let t = plan.rows[step].t;
        let dim = meta.sample_len();
        let mut group = c.benchmark_group(format!("eval/{}", m.name));
        for batch in [1usize, 64] {
            let x = normals(batch * dim, 1);
            let labels: Vec<u16> = if meta.num_classes > 0 {
                (0..batch).map(|i| (i % 10) as u16).collect()
            } else {
                vec![]
            };
            let mut out = vec![0f32; x.len()];
            let mut run = |name: &str, den: &mut dyn Denoiser| {
                group.bench_function(BenchmarkId::new(name, batch), |b| {
                    b.iter(|| {
                        den.eval(black_box(&x), t, step, &labels, &mut out).unwrap();
                    })
                });
            };
            for (name, kernels) in [
                ("runtime-reference", Kernels::Reference),
                ("runtime-optimized", Kernels::Optimized),
            ] {
                let mut arena = vec![0i8; pack.arena_bytes()];
                let mut e = Engine::new(pack, &mut arena).unwrap().with_kernels(kernels);
                run(name, &mut e);
            }
            let mut tract = load(&dir.join("int8.onnx"), EngineName::Tract, &args, 1.0).unwrap();
            run("tract-int8", tract.denoiser.as_mut());
            let mut float = load(
                &dir.join("float.onnx"),
                EngineName::TractFloat,
                &args,
                meta.guidance,
            )
            .unwrap();
            run("tract-float", float.denoiser.as_mut());
        }
        group.finish();
    }
}

fn per_sample(c: &mut Criterion) {
    let dir = models().join("two-moons");
    let proto = read_model(&dir.join("float.onnx")).unwrap();
    let mut group = c.benchmark_group("sample/two-moons");
    group.sample_size(10);
    for (name, opts) in [
        ("ddpm-1000", "--sampler ddpm --steps 1000 --spacing leading"),
        ("ddim-50", "--sampler ddim --steps 50 --spacing linspace"),
        ("ddim-20", "--sampler ddim --steps 20 --spacing linspace"),
        ("dpmpp-20", "--sampler dpmpp --steps 20 --spacing linspace"),
        ("dpmpp-10", "--sampler dpmpp --steps 10 --spacing linspace"),
        ("euler-20", "--sampler euler --steps 20 --spacing linspace"),
    ] {
        let args = sampler_args(opts);
        let plan = args.resolve().unwrap().plan().unwrap();
        let calib = edgediff::quantize::calibrate::CalibConfig::new(64);
        let q = quantize_for_plan(&proto, "two-moons", &plan, &calib, None).unwrap();
        let bytes = write_pack(&q, &plan, None).unwrap().bytes;
        let pack = Pack::parse(&bytes).unwrap();
        let mut arena = vec![0i8; pack.arena_bytes()];
        let mut engine = Engine::new(pack, &mut arena).unwrap();
        let job = Job {
            plan: &plan,
            prediction: pack.meta().prediction,
            clip_sample: None,
            dim: 2,
            n: 1,
            labels: &[],
            seed: 0,
        };
        group.bench_function(BenchmarkId::new("runtime", name), |b| {
            b.iter(|| job.run(&mut engine).unwrap())
        });
        // The same int8 model through tract, as int8 ONNX in memory.
        let timesteps: Vec<u32> = plan.rows.iter().map(|r| r.t).collect();
        let onnx = qonnx::write(&q, &timesteps);
        let mut tract = TractDenoiser::new(&onnx, "two-moons", TractInput::Step, 0, 1.0).unwrap();
        group.bench_function(BenchmarkId::new("tract-int8", name), |b| {
            b.iter(|| job.run(&mut tract).unwrap())
        });
    }
    group.finish();
}

/// The criterion group (its generated function has no doc comment of its own).
mod group {
    #![allow(missing_docs)]
    criterion::criterion_group!(benches, super::per_evaluation, super::per_sample);
}
criterion_main!(group::benches);
