//! The models shipped in `models/`: packs are what the compiler writes, the planner reaches its
//! lower bound, and the runtime agrees with tract on the int8 ONNX, layer by layer at every
//! sampling step and over whole trajectories.

use edgediff::compile::writer::write_pack;
use edgediff::onnx::{qonnx, read_model};
use edgediff::pipeline::sampler_args;
use edgediff::pipeline::{Dyn, EngineName, load};
use edgediff::sampling::Job;
use edgediff_runtime::engine::Engine;
use edgediff_runtime::noise::{GaussianNoise, NoiseSource};
use edgediff_runtime::pack::Pack;
use edgediff_tests::layers::{Recording, compare_layers, op_name};
use std::path::PathBuf;

/// Every shipped model and the sampler options it was compiled with.
fn shipped() -> Vec<(&'static str, &'static str)> {
    edgediff::pipeline::SHIPPED
        .iter()
        .map(|m| (m.name, m.sampler))
        .collect()
}

fn dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../models")
        .join(name)
}

#[test]
fn packs_are_reproduced_by_the_compiler_and_reach_the_arena_lower_bound() {
    for (name, opts) in shipped() {
        let d = dir(name);
        let q = qonnx::read(&read_model(&d.join("int8.onnx")).unwrap(), name).unwrap();
        let args = sampler_args(opts);
        let plan = args.resolve().unwrap().plan().unwrap();
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

/// Every op of every shipped model gives the same int8 tensor on the runtime and on tract,
/// on the states of 256 real sampling trajectories (conditional models: every label and the
/// null label of guidance) and on wide random inputs at every step.
#[test]
fn runtime_and_tract_agree_bit_for_bit_on_every_layer() {
    for (name, opts) in shipped() {
        let d = dir(name);
        let bytes = std::fs::read(d.join("model.pack")).unwrap();
        let pack = Pack::parse(&bytes).unwrap();
        let mut arena = vec![0i8; pack.arena_bytes()];
        let model = qonnx::read(&read_model(&d.join("int8.onnx")).unwrap(), name).unwrap();
        let dim = pack.meta().sample_len();
        let classes = pack.meta().num_classes;
        let args = sampler_args(opts);
        let plan = args.resolve().unwrap().plan().unwrap();
        let mut rec = Recording {
            engine: Engine::new(pack, &mut arena).unwrap(),
            seen: vec![],
        };
        let labels: Vec<u16> = (0..256)
            .map(|i| (i % classes.max(1) as usize) as u16)
            .collect();
        let job = Job {
            plan: &plan,
            prediction: pack.meta().prediction,
            clip_sample: None,
            dim,
            n: 256,
            labels: if classes > 0 { &labels } else { &[] },
            seed: 21,
        };
        job.run(&mut rec).unwrap();
        let mut inputs = rec.seen;
        let mut noise = GaussianNoise::new(5);
        for step in 0..plan.rows.len() {
            for i in 0..8 {
                let x = (0..dim)
                    .map(|_| 1.5 * noise.next_normal().unwrap())
                    .collect();
                inputs.push((step, (i % (usize::from(classes) + 1)) as u16, x));
            }
        }
        let result = compare_layers(&model, &bytes, &inputs);
        let (total, differ) = result
            .iter()
            .fold((0, 0), |(t, d), a| (t + a.total, d + a.differ));
        let out = result.last().unwrap();
        println!(
            "{name}: {} evaluations, {} ops: {}/{total} int8 values identical; network output {}/{} ({:.4}%)",
            inputs.len(),
            result.len(),
            total - differ,
            out.total - out.differ,
            out.total,
            100.0 * (out.total - out.differ) as f64 / out.total as f64
        );
        let differing: Vec<String> = model
            .graph
            .ops
            .iter()
            .zip(&result)
            .enumerate()
            .filter(|(_, (_, a))| a.differ > 0)
            .map(|(k, (op, a))| {
                format!(
                    "op {k} ({}): {} of {} values, worst {} LSB",
                    op_name(op),
                    a.differ,
                    a.total,
                    a.worst
                )
            })
            .collect();
        assert!(differing.is_empty(), "{name}: {}", differing.join("; "));
    }
}

#[test]
fn whole_trajectories_agree_between_runtime_and_tract() {
    for (name, opts) in shipped() {
        let d = dir(name);
        let args = sampler_args(opts);
        let run = |engine, file: &str| {
            let mut m = load(&d.join(file), engine, &args, 1.0).unwrap();
            let job = Job {
                plan: &m.plan,
                prediction: m.prediction,
                clip_sample: m.clip,
                dim: m.dim,
                n: 256,
                labels: &[],
                seed: 0,
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
        let mean = a
            .iter()
            .zip(&b)
            .map(|(x, y)| f64::from((x - y).abs()))
            .sum::<f64>()
            / a.len() as f64;
        let same = a
            .iter()
            .zip(&b)
            .filter(|(x, y)| x.to_bits() == y.to_bits())
            .count();
        println!(
            "{name}: 256 trajectories, {same}/{} values bit-identical, max |runtime - tract| {max}, mean {mean:.2e}",
            a.len()
        );
        // Every evaluation agrees bit for bit and the sampler arithmetic is shared, so whole
        // trajectories are identical (docs/agreement.md).
        assert_eq!(
            same,
            a.len(),
            "{name}: max |runtime - tract| {max}, mean {mean}"
        );
    }
}
