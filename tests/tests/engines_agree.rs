//! The runtime and tract agree bit for bit on every op, compared layer by layer: test graphs
//! covering conv and linear layers (per-channel and single-multiplier), GroupNorm,
//! activation tables, adds and products of two activations (same shape and broadcast), concat,
//! upsampling, class / step embeddings, and attention (slices, transposes, products of two
//! activations, integer softmax), LayerNorm and RMSNorm, with one scale set or one per step, on wide random inputs at every step and
//! label. A failure names the first op that disagrees.

use edgediff::compile::writer::write_pack;
use edgediff::ir::QGraph;
use edgediff::onnx::qonnx::QModel;
use edgediff_runtime::noise::{GaussianNoise, NoiseSource};
use edgediff_runtime::sampler::plan::{self, Plan, PlanConfig, SamplerKind};
use edgediff_runtime::schedule::betas::{BetaSchedule, NoiseSchedule};
use edgediff_runtime::schedule::spacing::Spacing;
use edgediff_tests::graphs::{attention_net, conv_net, conv1d_net, film_net, mlp, norm_net};
use edgediff_tests::layers::{compare_layers, op_name};

const STEPS: usize = 4;

fn sampler_plan() -> Plan {
    let s = NoiseSchedule::new(&BetaSchedule::DDPM_LINEAR, 1000).unwrap();
    let kind = SamplerKind::DPM_SOLVER_PP_2M;
    plan::build(&s, &PlanConfig::new(kind, STEPS, Spacing::Linspace)).unwrap()
}

fn every_op_agrees(name: &str, g: QGraph, seed: u64) {
    let plan = sampler_plan();
    let pack = write_pack(&g, &plan, None).unwrap().bytes;
    let dim: usize = g.sample_shape.iter().product();
    let labels: Vec<u16> = if g.num_classes > 0 {
        vec![0, g.num_classes / 2, g.num_classes]
    } else {
        vec![0]
    };
    let mut noise = GaussianNoise::new(seed);
    let mut inputs = vec![];
    for step in 0..STEPS {
        for &label in &labels {
            for i in 0..64 {
                let wide = [0.5, 1.0, 3.0][i % 3];
                let x = (0..dim)
                    .map(|_| wide * noise.next_normal().unwrap())
                    .collect();
                inputs.push((step, label, x));
            }
        }
    }
    let model = QModel {
        timesteps: plan.rows.iter().map(|r| r.t).collect(),
        graph: g,
    };
    let result = compare_layers(&model, &pack, &inputs);
    for (k, (op, a)) in model.graph.ops.iter().zip(&result).enumerate() {
        println!(
            "{name}: op {k} {:<10} {} values, {} differ, worst {} LSB",
            op_name(op),
            a.total,
            a.differ,
            a.worst
        );
    }
    if let Some((k, a)) = result.iter().enumerate().find(|(_, a)| a.differ > 0) {
        panic!(
            "{name}: op {k} ({}) differs in {} of {} values (worst {} LSB)",
            op_name(&model.graph.ops[k]),
            a.differ,
            a.total,
            a.worst
        );
    }
}

#[test]
fn conv_net_agrees_layer_by_layer() {
    every_op_agrees("conv net", conv_net(STEPS, false, 11), 1);
}

#[test]
fn conv_net_with_per_step_scales_agrees_layer_by_layer() {
    every_op_agrees("conv net, per-step", conv_net(STEPS, true, 12), 2);
}

#[test]
fn film_net_with_products_of_activations_agrees_layer_by_layer() {
    every_op_agrees("film net", film_net(STEPS, false, 15), 5);
    every_op_agrees("film net, per-step", film_net(STEPS, true, 16), 6);
}

#[test]
fn attention_net_agrees_layer_by_layer() {
    every_op_agrees("attention net", attention_net(STEPS, false, 17), 7);
    every_op_agrees("attention net, per-step", attention_net(STEPS, true, 18), 8);
}

#[test]
fn norm_net_agrees_layer_by_layer() {
    every_op_agrees("norm net", norm_net(STEPS, false, 19), 9);
    every_op_agrees("norm net, per-step", norm_net(STEPS, true, 20), 10);
}

#[test]
fn conv1d_net_with_grouped_and_dilated_convs_agrees_layer_by_layer() {
    every_op_agrees("conv1d net", conv1d_net(STEPS, false, 21), 11);
    every_op_agrees("conv1d net, per-step", conv1d_net(STEPS, true, 22), 12);
}

#[test]
fn mlp_agrees_layer_by_layer() {
    every_op_agrees("mlp", mlp(STEPS, false, 13), 3);
    every_op_agrees("mlp, per-step", mlp(STEPS, true, 14), 4);
}

/// The test MLP's fused-ReLU conv (op 4) has output zero point -43: the runtime clamps there
/// (never below, often at it), and the int8 ONNX does the same (`mlp_agrees_layer_by_layer`).
#[test]
fn fused_relu_clamps_at_the_output_zero_point() {
    let g = mlp(STEPS, false, 13);
    let zp = g.qparams[0][g.tensors[5].qparam].zero_point;
    assert_eq!(zp, -43);
    let pack_bytes = write_pack(&g, &sampler_plan(), None).unwrap().bytes;
    let pack = edgediff_runtime::pack::Pack::parse(&pack_bytes).unwrap();
    let mut arena = vec![0i8; pack.arena_bytes()];
    let mut engine = edgediff_runtime::engine::Engine::new(pack, &mut arena).unwrap();
    let (mut at, mut below, mut total) = (0, 0, 0);
    let mut noise = GaussianNoise::new(3);
    for step in 0..STEPS {
        for _ in 0..16 {
            for v in engine.input_mut().unwrap().iter_mut() {
                *v = (40.0 * noise.next_normal().unwrap()).clamp(-128.0, 127.0) as i8;
            }
            engine
                .run_observed(step, 0, &mut |k, _, out| {
                    if k == 4 {
                        total += out.len();
                        at += out.iter().filter(|v| i32::from(**v) == zp).count();
                        below += out.iter().filter(|v| i32::from(**v) < zp).count();
                    }
                })
                .unwrap();
        }
    }
    println!("fused ReLU: {at} of {total} outputs at the zero point, {below} below");
    assert!(
        at > total / 10 && below == 0,
        "{at} / {total}, {below} below"
    );
}
