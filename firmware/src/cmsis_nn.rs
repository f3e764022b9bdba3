//! Side by side with ARM's CMSIS-NN (feature `cmsis-nn`; `scripts/cmsis-nn.sh` builds the
//! library from a checkout and runs this): every dense conv and linear layer of the pack, on
//! random data of the layer's shapes, through edgediff's optimized kernel (its buffers made
//! once, as the engine does) and through
//! `arm_convolve_s8` (NHWC) or, for a linear layer, `arm_fully_connected_per_channel_s8`
//! (both with per-channel requantization, as the packs have), counted by the same counter in
//! the same run.
//!
//! Prints per layer `cmsis op <index> <macs> MACs edgediff <count> cmsis-nn <count> <unit>,
//! <n> of <outputs> outputs differ by more than 1` (the two libraries round differently:
//! CMSIS-NN's 31-bit fixed-point multiplier against the `f32` one; more than 1 would mean the
//! call was set up wrongly).
//!
//! The declarations below follow CMSIS-NN's public header `arm_nnfunctions.h` /
//! `arm_nn_types.h` (C ABI, `#[repr(C)]`); its code is linked, not copied.

use crate::board::{Board, COUNTER_UNIT};
use crate::lcg::Lcg;
use edgediff_runtime::engine::Engine;
use edgediff_runtime::kernels::optimized::{self, ConvScratch};
use edgediff_runtime::kernels::quant::{QParams, multiplier};
use edgediff_runtime::kernels::reference::{ConvGeometry, DenseParams};
use edgediff_runtime::pack::layout::{OpKind, conv};
use static_cell::ConstStaticCell;

const X_MAX: usize = 8192;
const W_MAX: usize = 40_000;
const Y_MAX: usize = 8192;
const OUT_MAX: usize = 256;
const BUF_MAX: usize = 8192;

static X: ConstStaticCell<[i8; X_MAX]> = ConstStaticCell::new([0; X_MAX]);
static X_NHWC: ConstStaticCell<[i8; X_MAX]> = ConstStaticCell::new([0; X_MAX]);
static W: ConstStaticCell<[u8; W_MAX]> = ConstStaticCell::new([0; W_MAX]);
static W_OHWI: ConstStaticCell<[i8; W_MAX]> = ConstStaticCell::new([0; W_MAX]);
static Y: ConstStaticCell<[i8; Y_MAX]> = ConstStaticCell::new([0; Y_MAX]);
static Y_NHWC: ConstStaticCell<[i8; Y_MAX]> = ConstStaticCell::new([0; Y_MAX]);
static BUF: ConstStaticCell<[u8; BUF_MAX]> = ConstStaticCell::new([0; BUF_MAX]);

#[repr(C)]
struct Tile {
    w: i32,
    h: i32,
}

#[repr(C)]
struct Context {
    buf: *mut u8,
    size: i32,
}

#[repr(C)]
struct Dims {
    n: i32,
    h: i32,
    w: i32,
    c: i32,
}

#[repr(C)]
struct PerChannel {
    multiplier: *mut i32,
    shift: *mut i32,
}

#[repr(C)]
struct Activation {
    min: i32,
    max: i32,
}

#[repr(C)]
struct ConvParams {
    input_offset: i32,
    output_offset: i32,
    stride: Tile,
    padding: Tile,
    dilation: Tile,
    activation: Activation,
}

#[repr(C)]
struct FcParams {
    input_offset: i32,
    filter_offset: i32,
    output_offset: i32,
    activation: Activation,
}

#[allow(unsafe_code)]
unsafe extern "C" {
    fn arm_convolve_s8_get_buffer_size(input: *const Dims, filter: *const Dims) -> i32;
    #[allow(clippy::too_many_arguments)]
    fn arm_convolve_s8(
        ctx: *const Context,
        params: *const ConvParams,
        quant: *const PerChannel,
        input_dims: *const Dims,
        input: *const i8,
        filter_dims: *const Dims,
        filter: *const i8,
        bias_dims: *const Dims,
        bias: *const i32,
        upscale_dims: *const Dims,
        output_dims: *const Dims,
        output: *mut i8,
    ) -> i32;
    #[allow(clippy::too_many_arguments)]
    fn arm_fully_connected_per_channel_s8(
        ctx: *const Context,
        params: *const FcParams,
        quant: *const PerChannel,
        input_dims: *const Dims,
        input: *const i8,
        filter_dims: *const Dims,
        filter: *const i8,
        bias_dims: *const Dims,
        bias: *const i32,
        output_dims: *const Dims,
        output: *mut i8,
    ) -> i32;
}

/// `m = multiplier * 2^(shift - 31)` with a 31-bit `multiplier` (TFLite's form, which
/// CMSIS-NN takes).
fn q31(m: f32) -> (i32, i32) {
    let bits = m.to_bits();
    let exp = ((bits >> 23) & 0xff) as i32 - 126;
    let frac = f32::from_bits((bits & 0x807f_ffff) | (126 << 23)); // in [0.5, 1)
    let q = (f64::from(frac) * 2_147_483_648.0 + 0.5) as i64;
    if q >= 1 << 31 {
        (1 << 30, exp + 1)
    } else {
        (q as i32, exp)
    }
}

/// Runs every dense conv / linear layer of the pack through both libraries and prints the
/// counts.
pub fn compare(engine: &Engine<'_, '_, { crate::config::OPS }>, board: &Board) {
    let pack = *engine.pack();
    let (x, x_nhwc, w, w_ohwi) = (X.take(), X_NHWC.take(), W.take(), W_OHWI.take());
    let (y, y_nhwc, buf) = (Y.take(), Y_NHWC.take(), BUF.take());
    let mut rng = Lcg(7);
    let scratch = &mut ConvScratch::new();
    for i in 0..pack.meta().op_count {
        let Some(o) = pack.op(i) else { continue };
        let (OpKind::Conv, Some(xt), Some(yt)) = (o.kind, pack.tensor(o.in0), pack.tensor(o.out))
        else {
            continue;
        };
        let Some(g) = conv::decode(o.attr, o.extra, false).map(|s| s.on(xt.shape, yt.shape[0]))
        else {
            continue;
        };
        let (Some(oh), Some(ow)) = (g.out_h(), g.out_w()) else {
            continue;
        };
        let (nx, nw, ny) = (
            g.in_c * g.in_h * g.in_w,
            g.out_c * g.taps(),
            g.out_c * oh * ow,
        );
        if g.groups != 1 || g.dilation != 1 || g.up != 1 {
            defmt::println!("cmsis op {=u16}: grouped, dilated or stuffed: skipped", i);
            continue;
        }
        if nx > X_MAX || nw > W_MAX || ny > Y_MAX || g.out_c > OUT_MAX {
            defmt::println!("cmsis op {=u16}: larger than the buffers: skipped", i);
            continue;
        }
        let macs = (ny * g.taps()) as u32;
        let (ours, theirs, differ) = run_layer(
            &g,
            (oh, ow),
            &mut rng,
            (x, x_nhwc),
            (w, w_ohwi),
            (y, y_nhwc),
            (buf, scratch),
            board,
        );
        defmt::println!(
            "cmsis op {=u16} {=u32} MACs edgediff {=u64} cmsis-nn {=u64} {=str}, {=usize} of {=usize} outputs differ by more than 1",
            i,
            macs,
            ours,
            theirs,
            COUNTER_UNIT,
            differ,
            ny
        );
    }
}

/// One layer: returns (edgediff count, CMSIS-NN count, outputs differing by more than 1).
#[allow(clippy::too_many_arguments, unsafe_code)]
fn run_layer(
    g: &ConvGeometry,
    (oh, ow): (usize, usize),
    rng: &mut Lcg,
    (x, x_nhwc): (&mut [i8; X_MAX], &mut [i8; X_MAX]),
    (w, w_ohwi): (&mut [u8; W_MAX], &mut [i8; W_MAX]),
    (y, y_nhwc): (&mut [i8; Y_MAX], &mut [i8; Y_MAX]),
    (buf, scratch): (&mut [u8; BUF_MAX], &mut ConvScratch),
    board: &Board,
) -> (u64, u64, usize) {
    let (hw, khw) = (g.in_h * g.in_w, g.k_h * g.k_w);
    let (nx, nw) = (g.in_c * hw, g.out_c * g.taps());
    // The same values in both layouts: x[c][h][w] = x_nhwc[h][w][c], w[o][i][kh][kw] =
    // w_ohwi[o][kh][kw][i].
    for c in 0..g.in_c {
        for p in 0..hw {
            let v = rng.i8();
            x[c * hw + p] = v;
            x_nhwc[p * g.in_c + c] = v;
        }
    }
    for o in 0..g.out_c {
        for c in 0..g.in_c {
            for k in 0..khw {
                let v = rng.i8().max(-127);
                w[o * g.taps() + c * khw + k] = v as u8;
                w_ohwi[o * g.taps() + k * g.in_c + c] = v;
            }
        }
    }
    let mut bias = [0i32; OUT_MAX];
    let mut bias_bytes = [0u8; 4 * OUT_MAX];
    let mut scale_bytes = [0u8; 4 * OUT_MAX];
    let mut mults = [0i32; OUT_MAX];
    let mut shifts = [0i32; OUT_MAX];
    let qx = QParams {
        scale: 0.02,
        zero_point: -3,
    };
    let qy = QParams {
        scale: 0.05,
        zero_point: 5,
    };
    let linear = hw == 1 && khw == 1;
    for o in 0..g.out_c {
        bias[o] = i32::from(rng.i8()) * 31;
        bias_bytes[4 * o..4 * o + 4].copy_from_slice(&bias[o].to_le_bytes());
        let s_w = 1e-3 + f32::from(rng.i8().unsigned_abs()) * 2e-5;
        scale_bytes[4 * o..4 * o + 4].copy_from_slice(&s_w.to_le_bytes());
        (mults[o], shifts[o]) = q31(multiplier(qx.scale, s_w, qy.scale));
    }
    let p = DenseParams {
        weights: &w[..nw],
        bias: &bias_bytes[..4 * g.out_c],
        w_scales: &scale_bytes[..4 * g.out_c],
    };
    let ny = g.out_c * oh * ow;
    let start = board.now();
    optimized::conv2d_in(scratch, &x[..nx], qx, &p, g, qy, false, &mut y[..ny]);
    let ours = board.now() - start;

    let dims = |n: usize, h: usize, w: usize, c: usize| Dims {
        n: n as i32,
        h: h as i32,
        w: w as i32,
        c: c as i32,
    };
    let activation = Activation {
        min: -128,
        max: 127,
    };
    let start = board.now();
    // SAFETY: every pointer is to a live buffer at least as large as the dimensions passed
    // with it say (checked by the caller against the buffer sizes); the scratch buffer is
    // the size CMSIS-NN asks for (checked below).
    let status = unsafe {
        if linear {
            let ctx = Context {
                buf: core::ptr::null_mut(),
                size: 0,
            };
            let params = FcParams {
                input_offset: -qx.zero_point,
                filter_offset: 0,
                output_offset: qy.zero_point,
                activation,
            };
            let quant = PerChannel {
                multiplier: mults.as_mut_ptr(),
                shift: shifts.as_mut_ptr(),
            };
            arm_fully_connected_per_channel_s8(
                &ctx,
                &params,
                &quant,
                &dims(1, 1, 1, g.in_c),
                x_nhwc.as_ptr(),
                &dims(g.in_c, 1, 1, g.out_c),
                w_ohwi.as_ptr(),
                &dims(1, 1, 1, g.out_c),
                bias.as_ptr(),
                &dims(1, 1, 1, g.out_c),
                y_nhwc.as_mut_ptr(),
            )
        } else {
            let input_dims = dims(1, g.in_h, g.in_w, g.in_c);
            let filter_dims = dims(g.out_c, g.k_h, g.k_w, g.in_c);
            let size = arm_convolve_s8_get_buffer_size(&input_dims, &filter_dims);
            if size < 0 || size as usize > BUF_MAX {
                return (ours, 0, ny);
            }
            let ctx = Context {
                buf: buf.as_mut_ptr(),
                size,
            };
            let params = ConvParams {
                input_offset: -qx.zero_point,
                output_offset: qy.zero_point,
                stride: Tile {
                    w: g.stride as i32,
                    h: g.stride as i32,
                },
                padding: Tile {
                    w: g.pad_w as i32,
                    h: g.pad_h as i32,
                },
                dilation: Tile { w: 1, h: 1 },
                activation,
            };
            let quant = PerChannel {
                multiplier: mults.as_mut_ptr(),
                shift: shifts.as_mut_ptr(),
            };
            arm_convolve_s8(
                &ctx,
                &params,
                &quant,
                &input_dims,
                x_nhwc.as_ptr(),
                &filter_dims,
                w_ohwi.as_ptr(),
                &dims(1, 1, 1, g.out_c),
                bias.as_ptr(),
                core::ptr::null(),
                &dims(1, oh, ow, g.out_c),
                y_nhwc.as_mut_ptr(),
            )
        }
    };
    let theirs = board.now() - start;
    if status != 0 {
        defmt::println!("cmsis-nn returned status {=i32}", status);
        return (ours, theirs, ny);
    }
    let plane = oh * ow;
    let differ = (0..ny)
        .filter(|&i| {
            let (c, p) = (i / plane, i % plane);
            (i32::from(y[i]) - i32::from(y_nhwc[p * g.out_c + c])).abs() > 1
        })
        .count();
    (ours, theirs, differ)
}
