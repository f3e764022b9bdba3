//! On-device check (feature `kernel-check`): the optimized conv / linear kernels (the DSP
//! assembly kernels, the im2col gather, the FPU requantization) against the portable reference
//! kernels on random shapes, zero points and scales, and the FPU's `VCVTR` rounding
//! ([`edgediff_runtime::math::round_to_i32`]) against the portable rounding on 2^20 `f32`
//! values. Prints `kernel check: <outputs> outputs, <mismatches> mismatches` (the rounded
//! values counted as outputs).

use crate::lcg::Lcg;
use edgediff_runtime::kernels::quant::QParams;
use edgediff_runtime::kernels::reference::{ConvGeometry, ConvSpec, DenseParams};
use edgediff_runtime::kernels::{optimized, reference};
use static_cell::ConstStaticCell;

const X_MAX: usize = 4096;
const W_MAX: usize = 16384;
const Y_MAX: usize = 4096;
/// Most output channels of a layer (more than one block of 32).
const OUT_MAX: usize = 48;

static X: ConstStaticCell<[i8; X_MAX]> = ConstStaticCell::new([0; X_MAX]);
static W: ConstStaticCell<[u8; W_MAX]> = ConstStaticCell::new([0; W_MAX]);
static A: ConstStaticCell<[i8; Y_MAX]> = ConstStaticCell::new([0; Y_MAX]);
static B: ConstStaticCell<[i8; Y_MAX]> = ConstStaticCell::new([0; Y_MAX]);

/// Runs `cases` random layers through both kernel sets; returns (outputs, mismatches).
pub fn run(cases: usize) -> (usize, usize) {
    let (x, w, a, b) = (X.take(), W.take(), A.take(), B.take());
    let mut rng = Lcg(2024);
    let (mut outputs, mut mismatches) = (0, 0);
    for case in 0..cases {
        let linear = case % 4 == 0;
        let k = [1, 3, 3, 5][rng.below(4)];
        let g = if linear {
            // Up to 1,100 taps: past the im2col patch limit (1,024), and odd lengths; up to 40
            // outputs: more than one block of 32 output channels, and odd counts.
            ConvGeometry::linear(1 + rng.below(1100), 1 + rng.below(40))
        } else {
            // Some grouped (depthwise when one channel per group) and dilated; one case in
            // eight has one output channel per group (summed pixel by pixel).
            let groups = [1, 1, 2, 4][rng.below(4)];
            let per_group = if case % 8 == 1 {
                1
            } else {
                1 + rng.below(OUT_MAX as u32 / groups as u32)
            };
            let pad = rng.below(k as u32 / 2 + 1);
            ConvSpec {
                dilation: 1 + rng.below(2),
                groups,
                ..ConvSpec::new([k, k], 1 + rng.below(2), pad)
            }
            .on(
                [
                    groups * (1 + rng.below(8)),
                    1 + rng.below(10),
                    1 + rng.below(10),
                ],
                groups * per_group,
            )
        };
        let (Some(oh), Some(ow)) = (g.out_h(), g.out_w()) else {
            continue;
        };
        let (nx, nw, ny) = (
            g.in_c * g.in_h * g.in_w,
            g.out_c * g.taps(),
            g.out_c * oh * ow,
        );
        if nx > X_MAX || nw > W_MAX || ny > Y_MAX {
            continue;
        }
        for v in &mut x[..nx] {
            *v = rng.i8();
        }
        for v in &mut w[..nw] {
            *v = rng.i8().max(-127) as u8;
        }
        let mut bias = [0u8; 4 * OUT_MAX];
        let mut scales = [0u8; 4 * OUT_MAX];
        for c in 0..g.out_c {
            let b = i32::from(rng.i8()) * 97;
            bias[4 * c..4 * c + 4].copy_from_slice(&b.to_le_bytes());
            let s = 1e-3 + rng.below(1000) as f32 * 1e-5;
            scales[4 * c..4 * c + 4].copy_from_slice(&s.to_le_bytes());
        }
        let p = DenseParams {
            weights: &w[..nw],
            bias: &bias[..4 * g.out_c],
            w_scales: &scales[..4 * g.out_c],
        };
        let qx = QParams {
            scale: 0.01 + rng.below(100) as f32 * 1e-3,
            zero_point: i32::from(rng.i8()),
        };
        let qy = QParams {
            scale: 0.01 + rng.below(300) as f32 * 1e-3,
            zero_point: i32::from(rng.i8()),
        };
        let relu = case % 3 == 0;
        reference::conv2d(&x[..nx], qx, &p, &g, qy, relu, &mut a[..ny]);
        optimized::conv2d(&x[..nx], qx, &p, &g, qy, relu, &mut b[..ny]);
        outputs += ny;
        mismatches += a[..ny].iter().zip(&b[..ny]).filter(|(p, q)| p != q).count();
    }
    let (rounded, misrounded) = rounding(&mut rng, 1 << 20);
    (outputs + rounded, mismatches + misrounded)
}

/// `round_to_i32` (the FPU's `VCVTR`) against `round_ties_even(x) as i32`: every `f32` of
/// magnitude up to 128 on a grid of 2^-11 (ties included), then random bit patterns (huge,
/// tiny, infinite, NaN). Returns (values, mismatches).
fn rounding(rng: &mut Lcg, n: u32) -> (usize, usize) {
    use edgediff_runtime::math::{round_ties_even, round_to_i32};
    let mut mismatches = 0;
    for i in 0..n {
        let x = if i < n / 2 {
            (i as i32 - (n / 4) as i32) as f32 / 4096.0 * 2.0
        } else {
            f32::from_bits(rng.next() ^ (rng.next() << 16))
        };
        mismatches += usize::from(round_to_i32(x) != round_ties_even(x) as i32);
    }
    (n as usize, mismatches)
}
