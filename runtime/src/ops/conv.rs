//! Conv2d, Conv1d (a `1 x k` conv on `[c, 1, L]`) and Linear (a 1x1 conv on `[k, 1, 1]`),
//! dense, grouped or depthwise, dilated: int8 weights, int32 bias, per-channel weight scales;
//! blob0 weights `[out_c, in_c / groups, k_h, k_w]`, blob1 bias (i32), blob2 weight scales
//! (f32); attrs and extra: [`crate::pack::layout::conv`]; flag bit 0: fused ReLU.

use super::{Check, Reads, Run};
use crate::Result;
use crate::engine::Kernels;
use crate::kernels::optimized;
use crate::kernels::quant::{read_f32, read_i32};
use crate::kernels::reference::{self as k, ConvGeometry, DenseParams};
use crate::pack::layout::op::FLAG_RELU;
use crate::pack::{ACC_LIMIT, OpRecord};

/// The geometry of conv record `o` on an input of shape `input`, `None` when its padding
/// fields are inconsistent.
pub(super) fn geometry(
    o: &OpRecord,
    input: [usize; 3],
    out_c: usize,
    transposed: bool,
) -> Option<ConvGeometry> {
    crate::pack::layout::conv::decode(o.attr, o.extra, transposed).map(|s| s.on(input, out_c))
}

#[cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)
)]
pub(super) fn check(c: &Check) -> Result<Reads> {
    let x = c.input(c.o.in0)?;
    let g = geometry(c.o, x.shape, c.out.shape[0], false).ok_or((c.bad)("conv padding"))?;
    if g.out_pad != 0 {
        return Err((c.bad)("conv: output padding belongs to transposed convs"));
    }
    check_with(c, &g)
}

/// The checks of a conv of geometry `g` (also a transposed conv's, as its stuffed conv).
#[cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)
)]
pub(super) fn check_with(c: &Check, g: &ConvGeometry) -> Result<Reads> {
    let bad = c.bad;
    if g.group_in() == 0 {
        return Err(bad(
            "conv groups must divide the input and the output channels",
        ));
    }
    if g.out_h() != Some(c.out.shape[1]) || g.out_w() != Some(c.out.shape[2]) {
        return Err(bad(
            "conv output shape does not follow from input, kernel, stride, padding and dilation",
        ));
    }
    let taps = g.taps();
    if (taps as i64).saturating_mul(255 * 127) > ACC_LIMIT {
        return Err(bad(
            "conv has too many taps: the int32 accumulator could overflow",
        ));
    }
    (c.blob)(0, g.out_c.saturating_mul(taps))?;
    let bias = (c.blob)(1, g.out_c.saturating_mul(4))?;
    let scales = (c.blob)(2, g.out_c.saturating_mul(4))?;
    for ch in 0..g.out_c {
        if i64::from(read_i32(bias, ch)).abs() > ACC_LIMIT {
            return Err(bad("conv bias magnitude above 2^30"));
        }
        let s = read_f32(scales, ch);
        if !(s > 0.0 && s.is_finite()) {
            return Err(bad("conv weight scale must be finite and positive"));
        }
    }
    Ok([Some(c.o.in0), None])
}

pub(super) fn run(r: Run) -> Result<()> {
    run_as(r, false)
}

/// Runs a conv record (`transposed`: a transposed conv's).
pub(super) fn run_as(r: Run, transposed: bool) -> Result<()> {
    let x = r.in0()?;
    let g = geometry(r.o, x.shape, r.out_t.shape[0], transposed)
        .ok_or(super::internal("a validated conv"))?;
    let p = DenseParams {
        weights: r.blob(0, g.out_c * g.taps())?,
        bias: r.blob(1, 4 * g.out_c)?,
        w_scales: r.blob(2, 4 * g.out_c)?,
    };
    let [q0, _, q_out] = r.q;
    let relu = r.o.flags & FLAG_RELU != 0;
    match r.kernels {
        Kernels::Reference => k::conv2d(r.io.in0, q0, &p, &g, q_out, relu, r.io.out),
        Kernels::Optimized => {
            optimized::conv2d_in(r.scratch, r.io.in0, q0, &p, &g, q_out, relu, r.io.out)
        }
    }
    Ok(())
}
