//! The int32 accumulators: the largest layer the pack format allows accumulates exactly
//! (no overflow at the extreme inputs, weights and bias), and the compiler rejects a layer one
//! tap larger or a bias past the limit, with an error that says why.

use edgediff::compile::writer::write_pack;
use edgediff::ir::{QGraph, QOp, QTensor};
use edgediff_runtime::kernels::quant::{QParams, requantize};
use edgediff_runtime::kernels::reference::ConvSpec;
use edgediff_runtime::kernels::{optimized, reference};
use edgediff_runtime::pack::ACC_LIMIT;
use edgediff_runtime::prediction::PredictionType;
use edgediff_runtime::sampler::plan::{self, PlanConfig, SamplerKind};
use edgediff_runtime::schedule::betas::{BetaSchedule, NoiseSchedule};
use edgediff_runtime::schedule::spacing::Spacing;

/// `|x - z| * |w|` at the extremes: 255 * 127.
const MAX_PRODUCT: i64 = 255 * 127;
/// The most taps a conv may have: `taps * 255 * 127 <= 2^30`.
const MAX_TAPS: usize = (ACC_LIMIT / MAX_PRODUCT) as usize;

fn linear(taps: usize, x: i8, z: i32, w: i8, bias: i32) -> [i8; 2] {
    let g = reference::ConvGeometry::linear(taps, 1);
    let weights = vec![w as u8; taps];
    let bias_b = bias.to_le_bytes();
    let scale = 1e-9f32.to_le_bytes();
    let p = reference::DenseParams {
        weights: &weights,
        bias: &bias_b,
        w_scales: &scale,
    };
    let qx = QParams {
        scale: 1.0,
        zero_point: z,
    };
    let qy = QParams {
        scale: 1.0,
        zero_point: 0,
    };
    let input = vec![x; taps];
    let (mut a, mut b) = ([0i8], [0i8]);
    reference::conv2d(&input, qx, &p, &g, qy, false, &mut a);
    optimized::conv2d(&input, qx, &p, &g, qy, false, &mut b);
    [a[0], b[0]]
}

#[test]
fn the_largest_allowed_layer_accumulates_exactly() {
    assert_eq!(MAX_TAPS, 33_155);
    // acc = bias + taps * (x - z) * w at both extremes: +-(2^30 + 33,155 * 32,385), which is
    // 2,147,466,499, just below i32::MAX. Overflow checks are on in tests, so a wrap panics.
    for (x, z, w, bias) in [
        (127i8, -128, 127i8, ACC_LIMIT as i32),
        (-128, 127, 127, -(ACC_LIMIT as i32)),
    ] {
        let acc = i64::from(bias) + MAX_TAPS as i64 * i64::from(i32::from(x) - z) * i64::from(w);
        assert!(acc.abs() < i64::from(i32::MAX), "{acc}");
        let expected = requantize(acc as i32, 1e-9, 0);
        assert_eq!(linear(MAX_TAPS, x, z, w, bias), [expected; 2], "acc {acc}");
    }
}

/// `x [taps] -> linear (bias) -> h [2] -> linear -> eps [taps]`.
fn two_layers(taps: usize, bias: i32) -> QGraph {
    let q = QParams {
        scale: 0.05,
        zero_point: 0,
    };
    let tensor = |name: &str, c: usize| QTensor {
        name: name.into(),
        shape: [c, 1, 1],
        qparam: 0,
    };
    let linear = |input, output, in_c: usize, out_c: usize, bias| QOp::Conv {
        input,
        output,
        weights: vec![1; in_c * out_c],
        bias: vec![bias; out_c],
        w_scales: vec![0.01; out_c],
        spec: ConvSpec::new([1, 1], 1, 0),
        relu: false,
    };
    QGraph {
        sample_shape: [taps, 1, 1],
        prediction: PredictionType::Epsilon,
        num_classes: 0,
        guidance: 1.0,
        tensors: vec![tensor("x", taps), tensor("h", 2), tensor("eps", taps)],
        qparams: vec![vec![q]],
        ops: vec![linear(0, 1, taps, 2, bias), linear(1, 2, 2, taps, 0)],
        input: 0,
        output: 2,
    }
}

#[test]
fn the_compiler_rejects_layers_whose_accumulator_could_overflow() {
    let s = NoiseSchedule::new(&BetaSchedule::DDPM_LINEAR, 1000).unwrap();
    let p = plan::build(
        &s,
        &PlanConfig::new(SamplerKind::Ddim { eta: 0.0 }, 2, Spacing::Linspace),
    )
    .unwrap();
    assert!(write_pack(&two_layers(64, 1000), &p, None).is_ok());
    for (taps, bias, why) in [
        (MAX_TAPS + 1, 0, "taps"),
        (64, ACC_LIMIT as i32 + 1, "bias"),
    ] {
        let g = two_layers(taps, bias);
        let Err(err) = write_pack(&g, &p, None) else {
            panic!("{taps} taps, bias {bias}: accepted")
        };
        let err = err.to_string();
        assert!(err.contains(why), "{taps} taps, bias {bias}: {err}");
        println!("{taps} taps, bias {bias}: {err}");
    }
}
