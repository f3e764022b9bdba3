//! The models shipped in `models/`: packs are what the compiler writes, the planner reaches its
//! lower bound, and the runtime agrees with tract on the int8 ONNX at every sampling step.

use clap::Parser;
use edgediff::cli::sample::{Dyn, EngineName, load};
use edgediff::cli::sampler_args::SamplerArgs;
use edgediff::compile::writer::write_pack;
use edgediff::engines::{TractDenoiser, TractInput};
use edgediff::onnx::{qonnx, read_model};
use edgediff::sampling::Job;
use edgediff_runtime::engine::Engine;
use edgediff_runtime::kernels::reference::quantize;
use edgediff_runtime::noise::{GaussianNoise, NoiseSource};
use edgediff_runtime::pack::Pack;
use edgediff_runtime::schedule::StepTable;
use std::path::PathBuf;

/// Every shipped model and the sampler options it was compiled with.
pub const SHIPPED: &[(&str, &str)] =
    &[("two-moons", "--sampler dpmpp --steps 20 --spacing linspace")];

fn dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../models")
        .join(name)
}

#[derive(Parser)]
struct Opts {
    #[command(flatten)]
    sampler: SamplerArgs,
}

fn sampler_args(s: &str) -> SamplerArgs {
    Opts::parse_from(std::iter::once("x").chain(s.split_whitespace())).sampler
}

#[test]
fn packs_are_reproduced_by_the_compiler_and_reach_the_arena_lower_bound() {
    for (name, opts) in SHIPPED {
        let d = dir(name);
        let q = qonnx::read(&read_model(&d.join("int8.onnx")).unwrap(), name).unwrap();
        let args = sampler_args(opts);
        let plan =
            edgediff_runtime::sampler::plan::build(&args.schedule().unwrap(), &args.plan_config())
                .unwrap();
        let compiled = write_pack(&q.graph, &plan, None).unwrap();
        let shipped = std::fs::read(d.join("model.pack")).unwrap();
        assert_eq!(
            compiled.bytes, shipped,
            "{name}: model.pack is stale; run scripts/build-models.sh"
        );
        assert_eq!(compiled.arena.total, compiled.arena.lower_bound, "{name}");
        println!(
            "{name}: pack {} bytes, arena {} = lower bound {}",
            shipped.len(),
            compiled.arena.total,
            compiled.arena.lower_bound
        );
    }
}

#[test]
fn runtime_and_tract_agree_within_one_lsb_at_every_step() {
    for (name, _) in SHIPPED {
        let d = dir(name);
        let bytes = std::fs::read(d.join("model.pack")).unwrap();
        let pack = Pack::parse(&bytes).unwrap();
        let mut arena = vec![0i8; pack.arena_bytes()];
        let mut engine = Engine::new(pack, &mut arena).unwrap();
        let proto = read_model(&d.join("int8.onnx")).unwrap();
        let q = qonnx::read(&proto, name).unwrap();
        let tract = TractDenoiser::new(
            &proto,
            name,
            TractInput::Step,
            q.graph.num_classes,
            q.graph.guidance,
        )
        .unwrap();
        let dim = pack.meta().sample_len();
        let mut noise = GaussianNoise::new(5);
        let (mut exact, mut total, mut worst) = (0usize, 0usize, 0i32);
        let table = pack.schedule();
        for step in 0..table.steps() {
            let t = table.row(step).unwrap().t;
            let (q_in, q_out) = engine.io_qparams(step).unwrap();
            for _ in 0..32 {
                // Inputs at the scale of x_t, some beyond the calibrated range.
                let x: Vec<f32> = (0..dim)
                    .map(|_| 1.5 * noise.next_normal().unwrap())
                    .collect();
                quantize(&x, q_in, engine.input_mut().unwrap());
                engine.run(step, q.graph.num_classes).unwrap();
                let ours = engine.output().unwrap().to_vec();
                let theirs = tract.run_one(&x, t, step, q.graph.num_classes).unwrap();
                for (a, b) in ours.iter().zip(&theirs) {
                    let b = q_out.quantize(*b);
                    let d = (i32::from(*a) - i32::from(b)).abs();
                    worst = worst.max(d);
                    exact += usize::from(d == 0);
                    total += 1;
                }
            }
        }
        println!(
            "{name}: runtime vs tract on {total} int8 outputs over {} steps: {:.4}% exact, worst {worst} LSB",
            table.steps(),
            100.0 * exact as f64 / total as f64
        );
        assert!(worst <= 1, "{name}: {worst} LSB");
    }
}

#[test]
fn whole_trajectories_agree_between_runtime_and_tract() {
    for (name, opts) in SHIPPED {
        let d = dir(name);
        let args = sampler_args(opts);
        let mut run = |engine, file: &str| {
            let mut m = load(&d.join(file), engine, &args, 1.0).unwrap();
            let job = Job {
                plan: &m.plan,
                prediction: m.prediction,
                clip_sample: m.clip,
                dim: m.dim,
                n: 256,
                labels: &[],
                seed: 11,
            };
            job.run(&mut Dyn(m.denoiser.as_mut())).unwrap()
        };
        let a = run(EngineName::Runtime, "model.pack");
        let b = run(EngineName::Tract, "int8.onnx");
        let max = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        println!("{name}: max |runtime - tract| over 256 trajectories = {max}");
        // Both engines are bit-exact per evaluation here, so trajectories are identical; the
        // bound allows one output LSB per step amplified by the solver (see docs/agreement.md).
        assert!(max <= 0.05, "{name}: {max}");
    }
}
