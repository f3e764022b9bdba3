//! Conv2d / Linear with the work laid out as dot products the compiler vectorizes:
//! - the input patch of one output pixel is gathered once (im2col, on the stack) as `i16`
//!   values `x - z_x` (padding taps become 0), then every output channel is one contiguous
//!   `i16 x i8 -> i32` dot product with its weight row ([`super::dot`]);
//!   Linear (`1 x 1` input) is the same with the whole input as the one patch;
//! - a conv to one output channel (per group) sums each pixel straight from the input
//!   ([`pixels`]): its patch would serve one dot product;
//! - 1-D signals and dilated kernels with one output channel, and patches longer than
//!   [`MAX_PATCH`], use row accumulation: per output channel and output row, each kernel tap
//!   adds a scaled input row segment into int32 accumulators ([`rows`]);
//! - a grouped conv runs each group as its own dense conv on the group's channels.

use super::dot::{
    Int8Out, PAIR_TAPS, PatchPair, dot_pair, dot_pair_int8, dot_rows, dot_rows_int8, prepare,
};
use crate::kernels::quant::{QParams, Rounding, multiplier, read_f32, read_i32};
#[cfg(target_arch = "x86_64")]
use crate::kernels::quant::{requantize, requantize_exact};
use crate::kernels::reference::{ConvGeometry, DenseParams};

/// Longest patch (`in_c * k_h * k_w`) gathered on the stack: 2 KiB of `i16`, the two
/// patches of a [`PatchPair`] taken as one.
pub const MAX_PATCH: usize = 2 * PAIR_TAPS;
/// Output channels whose multipliers and biases are prepared at once.
const OC_BLOCK: usize = 32;
/// Room for the weights of a layer whose taps are not a multiple of 4 (a first layer on 1 or
/// 2 input channels), copied out with zero columns.
const PADDED_BYTES: usize = 512;
/// Output columns accumulated at once by the fallback (in the sums of a [`Block`]).
const CHUNK: usize = 2 * OC_BLOCK;

/// How a conv's groups are computed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Strategy {
    /// im2col patches against blocks of weight rows ([`patches`]).
    Patches,
    /// One output channel, pixel by pixel from the input ([`pixels`]).
    Pixels,
    /// Output rows accumulated tap by tap ([`rows`]).
    Rows,
}

/// One conv call: its operands and the derived sizes every strategy uses.
struct Conv<'a, 'p> {
    x: &'a [i8],
    qx: QParams,
    p: &'a DenseParams<'p>,
    g: &'a ConvGeometry,
    qy: QParams,
    /// Output rows and columns.
    out_h: usize,
    out_w: usize,
    /// Kernel taps per output channel.
    taps: usize,
    /// Weights per row of `p.weights`: `taps`, or `taps` rounded up to a multiple of 4 when
    /// the rows were copied out with zeros after them (so that the DSP kernels cover every
    /// tap and requantize themselves).
    row: usize,
    /// The lowest output value (the zero point with a fused ReLU).
    lo: i8,
    /// How accumulators are rounded.
    rounding: Rounding,
}

/// Bit-exact with [`crate::kernels::reference::conv2d`]; [`conv2d_in`] with buffers of its
/// own.
pub fn conv2d(
    x: &[i8],
    qx: QParams,
    p: &DenseParams<'_>,
    g: &ConvGeometry,
    qy: QParams,
    relu: bool,
    y: &mut [i8],
) {
    conv2d_in(&mut ConvScratch::new(), x, qx, p, g, qy, relu, y);
}

/// The buffers of [`conv2d_in`]: a pair of im2col patches, one block of per-channel constants
/// and sums, and padded weight rows (3 KiB). An engine makes one and lends it to every conv,
/// since zeroing it per call cost a small layer more than its multiply-adds.
#[derive(Debug)]
pub struct ConvScratch {
    pair: PatchPair,
    block: Block,
    /// Weight rows copied out with zeros up to a multiple of 4 taps.
    padded: [u8; PADDED_BYTES],
}

impl ConvScratch {
    /// Zeroed buffers.
    pub const fn new() -> Self {
        Self {
            pair: PatchPair([[0; PAIR_TAPS]; 2]),
            block: Block {
                m: [0.0; OC_BLOCK],
                bias: [0; OC_BLOCK],
                acc: [0; 2 * OC_BLOCK],
            },
            padded: [0; PADDED_BYTES],
        }
    }
}

impl Default for ConvScratch {
    fn default() -> Self {
        Self::new()
    }
}

/// [`conv2d`] in the buffers of `scratch`.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_in(
    scratch: &mut ConvScratch,
    x: &[i8],
    qx: QParams,
    p: &DenseParams<'_>,
    g: &ConvGeometry,
    qy: QParams,
    relu: bool,
    y: &mut [i8],
) {
    let (Some(out_h), Some(out_w)) = (g.out_h(), g.out_w()) else {
        return;
    };
    let (icg, groups) = (g.group_in(), g.groups);
    if icg == 0 {
        return;
    }
    // Rounding is a property of the whole layer (all its multipliers), not of one group.
    let rounding = Rounding::of_layer(qx, p.w_scales, g.out_c, qy);
    let ocg = g.out_c / groups;
    let group = ConvGeometry {
        in_c: icg,
        out_c: ocg,
        groups: 1,
        ..*g
    };
    let taps = group.taps();
    if taps > MAX_PATCH && g.up > 1 {
        // Long patches over a stuffed input: rare (a wide transposed conv); the reference.
        return crate::kernels::reference::conv2d(x, qx, p, g, qy, relu, y);
    }
    let (x_len, y_len) = (icg * g.in_h * g.in_w, ocg * out_h * out_w);
    let slices = x
        .chunks_exact(x_len)
        .zip(y.chunks_exact_mut(y_len))
        .zip(p.weights.chunks_exact(ocg * taps))
        .zip(
            p.bias
                .chunks_exact(4 * ocg)
                .zip(p.w_scales.chunks_exact(4 * ocg)),
        );
    let ConvScratch {
        pair,
        block,
        padded,
    } = scratch;
    // One output channel per group (a depthwise conv, a conv to one channel): a patch would
    // serve one dot product, so each pixel is summed straight from the input, or (1-D
    // signals, dilated kernels) whole output rows at once.
    let strategy = if g.up == 1 && ocg == 1 {
        if g.in_h == 1 || g.dilation > 1 {
            Strategy::Rows
        } else {
            Strategy::Pixels
        }
    } else if taps <= MAX_PATCH {
        Strategy::Patches
    } else {
        Strategy::Rows
    };
    let row = taps.next_multiple_of(4);
    // Worth copying the weights only when several pixels reuse them.
    let pad = strategy == Strategy::Patches
        && !taps.is_multiple_of(4)
        && out_h * out_w > 1
        && row <= PAIR_TAPS
        && ocg * row <= PADDED_BYTES;
    for (((x, y), weights), (bias, w_scales)) in slices.take(groups) {
        let weights = if pad {
            for (dst, src) in padded.chunks_exact_mut(row).zip(weights.chunks_exact(taps)) {
                dst[..taps].copy_from_slice(src);
                dst[taps..].fill(0);
            }
            &padded[..ocg * row]
        } else if strategy == Strategy::Pixels && taps + 3 <= PADDED_BYTES {
            // One row and three zeros after it, so that `dot4` may read a word at its end.
            padded[..taps].copy_from_slice(&weights[..taps]);
            padded[taps..taps + 3].fill(0);
            &padded[..taps + 3]
        } else {
            weights
        };
        let p = DenseParams {
            weights,
            bias,
            w_scales,
        };
        let c = Conv {
            x,
            qx,
            p: &p,
            g: &group,
            qy,
            out_h,
            out_w,
            taps,
            row: if pad { row } else { taps },
            lo: if relu { qy.zero_point } else { -128 } as i8,
            rounding,
        };
        match strategy {
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            Strategy::Patches if patch_blocks_avx2(&c, pair, block, y) => {}
            Strategy::Patches => patches(&c, pair, block, y),
            Strategy::Pixels => pixels(&c, y),
            Strategy::Rows => rows(&c, &mut block.acc, y),
        }
    }
}

/// [`gather`] for a stuffed input (a transposed conv) or a dilated kernel: taps between
/// stuffed values and in the padding are 0.
fn gather_general(x: &[i8], z: i32, g: &ConvGeometry, (oy, ox): (usize, usize), patch: &mut [i16]) {
    let plane = g.in_h * g.in_w;
    let mut taps = patch.chunks_exact_mut(g.k_w);
    for ic in 0..g.in_c {
        let x_ic = x.get(ic * plane..(ic + 1) * plane).unwrap_or(&[]);
        for ky in 0..g.k_h {
            let Some(dst) = taps.next() else { return };
            let Some(iy) = g.row(oy, ky) else {
                dst.fill(0);
                continue;
            };
            let row = x_ic.get(iy * g.in_w..(iy + 1) * g.in_w).unwrap_or(&[]);
            for (kx, d) in dst.iter_mut().enumerate() {
                *d = g
                    .col(ox, kx)
                    .and_then(|ix| row.get(ix))
                    .map_or(0, |&v| (i32::from(v) - z) as i16);
            }
        }
    }
}

/// Writes the patch of output pixel `(oy, ox)` into `patch` (`x - z`, 0 for padding).
fn gather(x: &[i8], z: i32, g: &ConvGeometry, (oy, ox): (usize, usize), patch: &mut [i16]) {
    if g.up > 1 || g.dilation > 1 {
        return gather_general(x, z, g, (oy, ox), patch);
    }
    let (rows, border) = segments(g, (oy, ox));
    if border {
        patch.fill(0);
    }
    if let Some(rows) = rows {
        copy_rows(x, patch, &rows, z as i16);
    }
}

/// The row segments of output pixel `(oy, ox)`'s patch that land inside the input (`None`
/// when none does), and whether any tap lands in the padding. For a geometry with
/// `up == 1` and `dilation == 1`.
///
/// The kernel rows and columns that land inside the input are the same for every input
/// channel, so they are found once for all of them.
fn segments(g: &ConvGeometry, (oy, ox): (usize, usize)) -> (Option<Rows>, bool) {
    let (plane, in_w, k_h, k_w) = (g.in_h * g.in_w, g.in_w, g.k_h, g.k_w);
    // Input row / column of kernel row / column 0 (may be outside), and the kernel rows
    // ky_lo..ky_hi and columns kx_lo..kx_hi that land inside.
    let inside = |o: usize, pad: usize, k: usize, size: usize| {
        let i0 = (o * g.stride) as isize - pad as isize;
        let lo = (-i0).clamp(0, k as isize);
        let hi = (size as isize - i0).clamp(lo, k as isize);
        (i0, lo as usize, hi as usize)
    };
    let (iy0, ky_lo, ky_hi) = inside(oy, g.pad_h, k_h, g.in_h);
    let (ix0, kx_lo, kx_hi) = inside(ox, g.pad_w, k_w, in_w);
    let border = ky_hi - ky_lo < k_h || kx_hi - kx_lo < k_w;
    let len = kx_hi - kx_lo;
    if len == 0 || ky_hi == ky_lo || g.in_c == 0 {
        return (None, border);
    }
    // The first input value of channel 0 and its place in the patch; from there, channels
    // are `plane` (input) and `k_h * k_w` (patch) apart, rows `in_w` and `k_w`.
    let src = ((iy0 + ky_lo as isize) * in_w as isize + ix0 + kx_lo as isize) as usize;
    let rows = Rows {
        src: [src, plane, in_w],
        dst: [ky_lo * k_w + kx_lo, k_h * k_w, k_w],
        channels: g.in_c,
        rows: ky_hi - ky_lo,
        len,
    };
    (Some(rows), border)
}

/// Row segments to copy from an input into a patch: `channels x rows` segments of `len`
/// values; `src` / `dst` are the first index, the step between channels and the step between
/// rows.
struct Rows {
    src: [usize; 3],
    dst: [usize; 3],
    channels: usize,
    rows: usize,
    len: usize,
}

impl Rows {
    /// One past the last index the segments touch, for the layout `[first, channel, row]`
    /// (`None` on overflow).
    fn end(&self, [first, channel, row]: [usize; 3]) -> Option<usize> {
        let last_channel = (self.channels - 1).checked_mul(channel)?;
        let last_row = (self.rows - 1).checked_mul(row)?;
        first
            .checked_add(last_channel)?
            .checked_add(last_row)?
            .checked_add(self.len)
    }

    /// Whether there is a segment and every one lies inside a source of `src_len` and a
    /// destination of `dst_len` values.
    fn fit(&self, src_len: usize, dst_len: usize) -> bool {
        let fits = |end: Option<usize>, len: usize| end.is_some_and(|e| e <= len);
        self.channels > 0
            && self.rows > 0
            && self.len > 0
            && fits(self.end(self.src), src_len)
            && fits(self.end(self.dst), dst_len)
    }
}

/// `patch[d] = x[s] - z` over the segments of `r`: the hot loop of the im2col gather. Indexing
/// is unchecked after one check of the segments' last indices against both slices (a copy
/// per 3-tap row with checks cost 40 instructions on the Cortex-M4, 9 without); segments out
/// of bounds, which a validated geometry never gives, copy nothing.
#[allow(unsafe_code)]
fn copy_rows(x: &[i8], patch: &mut [i16], r: &Rows, z: i16) {
    // Whole 3x3 kernels only: each row's fourth value lands on the next row's first, or
    // (the last row of a channel) on the next channel's, written after it.
    #[cfg(target_arch = "x86_64")]
    if r.len == 3
        && r.dst[2] == 3
        && r.rows * 3 == r.dst[1]
        && (Rows { len: 4, ..*r }).fit(x.len(), patch.len())
    {
        return copy_rows4_sse2(x, patch, r, z);
    }
    if !r.fit(x.len(), patch.len()) {
        return;
    }
    let (xp, pp) = (x.as_ptr(), patch.as_mut_ptr());
    if r.rows == 1 && r.len == 1 {
        // A 1x1 kernel (a linear layer): one value per channel.
        let (mut s, mut d) = (r.src[0], r.dst[0]);
        for _ in 0..r.channels {
            // SAFETY: as below, with one row of one value per channel.
            unsafe { *pp.add(d) = i16::from(*xp.add(s)) - z };
            s += r.src[1];
            d += r.dst[1];
        }
        return;
    }
    for c in 0..r.channels {
        let (mut s, mut d) = (r.src[0] + c * r.src[1], r.dst[0] + c * r.dst[1]);
        for _ in 0..r.rows {
            // SAFETY: s + i and d + i stay below the ends checked above (channel c and
            // row at most channels - 1 and rows - 1, i below len), which are within the
            // slices' lengths.
            unsafe {
                if r.len == 3 {
                    *pp.add(d) = i16::from(*xp.add(s)) - z;
                    *pp.add(d + 1) = i16::from(*xp.add(s + 1)) - z;
                    *pp.add(d + 2) = i16::from(*xp.add(s + 2)) - z;
                } else {
                    for i in 0..r.len {
                        *pp.add(d + i) = i16::from(*xp.add(s + i)) - z;
                    }
                }
            }
            s += r.src[2];
            d += r.dst[2];
        }
    }
}

/// [`copy_rows`] for a whole 3x3 kernel on x86_64: each row read as 4 bytes and written as 4
/// values with SSE2 (part of every x86_64 CPU), the fourth overwritten by the next row or,
/// after the last, left in the patch's padding, which the caller zeroes after the taps (so
/// the patch it passes must have room for it, else the plain copy runs). The caller checked
/// that 4 values from every segment's start are in bounds.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
fn copy_rows4_sse2(x: &[i8], patch: &mut [i16], r: &Rows, z: i16) {
    use core::arch::x86_64::{
        __m128i, _mm_cvtsi32_si128, _mm_set1_epi16, _mm_srai_epi16, _mm_storel_epi64,
        _mm_sub_epi16, _mm_unpacklo_epi8,
    };
    let (xp, pp) = (x.as_ptr(), patch.as_mut_ptr());
    // SAFETY: SSE2 is in the x86_64 baseline.
    let zz = unsafe { _mm_set1_epi16(z) };
    for c in 0..r.channels {
        let (mut s, mut d) = (r.src[0] + c * r.src[1], r.dst[0] + c * r.dst[1]);
        for _ in 0..r.rows {
            // SAFETY: s + 4 and d + 4 stay within the slices (checked by the caller as in
            // `copy_rows`, with segments of 4); SSE2 is in the x86_64 baseline.
            unsafe {
                let word = xp.add(s).cast::<i32>().read_unaligned();
                let bytes = _mm_cvtsi32_si128(word);
                // Each byte into the high half of a 16-bit lane, then shifted down with its sign.
                let wide = _mm_srai_epi16::<8>(_mm_unpacklo_epi8(bytes, bytes));
                _mm_storel_epi64(pp.add(d).cast::<__m128i>(), _mm_sub_epi16(wide, zz));
            }
            s += r.src[2];
            d += r.dst[2];
        }
    }
}

/// `sum((x[s] - z) * w[d])` over the segments of `r` (`d` indexing the weight row as it
/// would the patch): the gather and a dot product in one pass, unchecked after the same
/// check as [`copy_rows`]; 0 for segments out of bounds.
#[allow(unsafe_code)]
fn dot_segments(x: &[i8], w: &[u8], r: &Rows, z: i32) -> i32 {
    #[cfg(feature = "dsp")]
    if let Some(short) = 4usize.checked_sub(r.len)
        && r.fit(x.len().saturating_sub(short), w.len().saturating_sub(short))
    {
        return dot4(x, w, r, z);
    }
    if !r.fit(x.len(), w.len()) {
        return 0;
    }
    let (xp, wp) = (x.as_ptr(), w.as_ptr());
    let mut acc = 0i32;
    for c in 0..r.channels {
        let (mut s, mut d) = (r.src[0] + c * r.src[1], r.dst[0] + c * r.dst[1]);
        for _ in 0..r.rows {
            // SAFETY: s + i and d + i stay below the ends `fit` checked, as in `copy_rows`.
            let tap = |i: usize| unsafe {
                (i32::from(*xp.add(s + i)) - z) * i32::from(*wp.add(d + i) as i8)
            };
            acc += (0..r.len).map(tap).sum::<i32>();
            s += r.src[2];
            d += r.dst[2];
        }
    }
    acc
}

/// [`dot_segments`] over segments of at most four taps (a 3x3 kernel, or its rows cut by
/// the left or right padding), each read as one word of four bytes, the weights past the
/// segment masked out: per row two loads, four `SXTB16`, two `SSUB16` of the zero point, two
/// masks and two `SMLAD`. The caller checked that four values from every segment's start
/// are in bounds.
/// Kept out of line: inlined into the pixel loop, its registers spill (46,720 -> 49,160
/// instructions on the digits U-Net's last conv).
#[cfg(feature = "dsp")]
#[allow(unsafe_code)]
#[inline(never)]
fn dot4(x: &[i8], w: &[u8], r: &Rows, z: i32) -> i32 {
    use super::dsp::{smlad, ssub16, sxtb16, sxtb16_ror8};
    let zz = (z as u32 & 0xffff) * 0x1_0001;
    // SXTB16 takes bytes 0 and 2, rotated 1 and 3: keep the halfwords of bytes in the segment.
    let lane = |byte: usize, half: u32| if byte < r.len { half } else { 0 };
    let mask02 = lane(0, 0xffff) | lane(2, 0xffff_0000);
    let mask13 = lane(1, 0xffff) | lane(3, 0xffff_0000);
    let (xp, wp) = (x.as_ptr(), w.as_ptr());
    let row = |acc: i32, s: usize, d: usize| {
        // SAFETY: the caller checked four values from the start of every segment against the
        // slices.
        let (xv, wv) = unsafe {
            (
                xp.add(s).cast::<u32>().read_unaligned(),
                wp.add(d).cast::<u32>().read_unaligned(),
            )
        };
        let acc = smlad(ssub16(sxtb16(xv), zz), sxtb16(wv) & mask02, acc);
        smlad(ssub16(sxtb16_ror8(xv), zz), sxtb16_ror8(wv) & mask13, acc)
    };
    let (mut acc, [mut s, ds, dr], [mut d, dd, dw]) = (0i32, r.src, r.dst);
    for _ in 0..r.channels {
        if r.rows == 3 {
            // A 3x3 kernel away from the top and bottom: the rows unrolled.
            acc = row(acc, s, d);
            acc = row(acc, s + dr, d + dw);
            acc = row(acc, s + 2 * dr, d + 2 * dw);
        } else {
            for k in 0..r.rows {
                acc = row(acc, s + k * dr, d + k * dw);
            }
        }
        s += ds;
        d += dd;
    }
    acc
}

/// A conv to one output channel (per group): each pixel summed straight from the input by
/// [`dot_segments`], since its patch would serve a single dot product. The weights may have
/// zeros after the row (see [`conv2d_in`]).
#[inline(never)]
fn pixels(c: &Conv<'_, '_>, y: &mut [i8]) {
    let m = multiplier(c.qx.scale, read_f32(c.p.w_scales, 0), c.qy.scale);
    let bias = read_i32(c.p.bias, 0);
    let w = c.p.weights;
    let z = c.qx.zero_point;
    for (oy, y_row) in y.chunks_exact_mut(c.out_w).take(c.out_h).enumerate() {
        for (ox, o) in y_row.iter_mut().enumerate() {
            let sum = segments(c.g, (oy, ox))
                .0
                .map_or(0, |r| dot_segments(c.x, w, &r, z));
            *o = c
                .rounding
                .requantize(bias + sum, m, c.qy.zero_point)
                .max(c.lo);
        }
    }
}

/// im2col: one patch per output pixel, gathered once and used by every block of
/// [`OC_BLOCK`] output channels; pixels go two at a time through [`dot_pair`] (each weight
/// row read once for both), a last odd pixel and patches longer than [`PAIR_TAPS`] one at a
/// time through [`dot_rows`].
fn patches(c: &Conv<'_, '_>, pair: &mut PatchPair, block: &mut Block, y: &mut [i8]) {
    let Conv {
        x,
        qx,
        p,
        g,
        qy,
        taps,
        row,
        lo,
        rounding,
        ..
    } = *c;
    let (out_w, out_plane) = (c.out_w, c.out_h * c.out_w);
    let blocks = g.out_c.div_ceil(OC_BLOCK);
    if blocks == 1 {
        block.load(c, 0);
    }
    let mut pix = 0;
    while pix < out_plane {
        let two = row <= PAIR_TAPS && pix + 1 < out_plane;
        // Each patch: the taps, then zeros up to the weight row.
        let fill = |patch: &mut [i16], at: usize| {
            let (taps_part, pad) = patch.split_at_mut(taps.min(patch.len()));
            gather(x, qx.zero_point, g, (at / out_w, at % out_w), taps_part);
            pad.fill(0);
            prepare(patch);
        };
        if two {
            for (k, patch) in pair.0.iter_mut().enumerate() {
                fill(&mut patch[..row], pix + k);
            }
        } else {
            fill(
                pair.0.as_flattened_mut().get_mut(..row).unwrap_or(&mut []),
                pix,
            );
        }
        for b in 0..blocks {
            let (oc0, n) = if blocks == 1 {
                (0, g.out_c)
            } else {
                block.load(c, b * OC_BLOCK)
            };
            let w = p.weights.get(oc0 * row..(oc0 + n) * row).unwrap_or(&[]);
            let k = if two { 2 } else { 1 };
            let patch = pair.0.as_flattened().get(..row).unwrap_or(&[]);
            // Output (oc0 + j, pix + i) is at (oc0 + j) * out_plane + pix + i.
            let ys = y.get_mut(oc0 * out_plane + pix..).unwrap_or(&mut []);
            // The kernel requantizes what rows it can (the f32 rounding only); the rest are
            // summed, then requantized here.
            let done = if rounding == Rounding::F32 {
                let q = Int8Out {
                    y: &mut *ys,
                    stride: out_plane,
                    bias: &block.bias[..n],
                    m: &block.m[..n],
                    zero_point: qy.zero_point,
                    lo,
                };
                if two {
                    dot_pair_int8(pair, row, w, n, q)
                } else {
                    dot_rows_int8(patch, w, n, q)
                }
            } else {
                0
            };
            if done == n {
                continue;
            }
            let w = w.get(done * row..).unwrap_or(&[]);
            let sums = &mut block.acc[..k * (n - done)];
            if two {
                dot_pair(pair, row, w, sums);
            } else {
                dot_rows(patch, w, sums);
            }
            // The sum of output (oc0 + done + j, pix + i) is at k * j + i.
            let ys = ys.get_mut(done * out_plane..).unwrap_or(&mut []);
            for i in 0..k {
                let outs = ys
                    .get_mut(i..)
                    .unwrap_or(&mut [])
                    .iter_mut()
                    .step_by(out_plane);
                let sums = sums.get(i..).unwrap_or(&[]).iter().step_by(k);
                let consts = block.m.iter().zip(&block.bias).skip(done);
                for ((o, &sum), (&m, &bias)) in outs.zip(sums).zip(consts) {
                    *o = rounding.requantize(bias + sum, m, qy.zero_point).max(lo);
                }
            }
        }
        pix += if two { 2 } else { 1 };
    }
}

/// x86_64 with AVX2 ([`super::avx2`]): the patches of up to
/// [`MAX_PIXELS`](super::avx2::MAX_PIXELS) output pixels gathered side by side, then every
/// block of output channels summed against all of them in registers (two rows by four
/// patches), and each channel's run of pixels requantized at once ([`requantize_chunk`]).
/// Returns false, having written nothing, where the CPU lacks AVX2.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
fn patch_blocks_avx2(
    c: &Conv<'_, '_>,
    pair: &mut PatchPair,
    block: &mut Block,
    y: &mut [i8],
) -> bool {
    use super::avx2;
    if !avx2::available() {
        return false;
    }
    let (g, out_plane) = (c.g, c.out_h * c.out_w);
    let stride = c.row.next_multiple_of(16);
    let buf = pair.0.as_flattened_mut();
    let per_block = (buf.len() / stride).min(avx2::MAX_PIXELS);
    if per_block == 0 {
        return false;
    }
    let mut sums = [0i32; avx2::MAX_ROWS * avx2::MAX_PIXELS];
    // One block of output channels: its constants loaded once for every pixel.
    let one_block = g.out_c <= OC_BLOCK;
    if one_block {
        block.load(c, 0);
    }
    let mut pix = 0;
    while pix < out_plane {
        let n_pix = per_block.min(out_plane - pix);
        for k in 0..n_pix {
            // With one value past the patch, where the 3x3 copy may write (the next patch's
            // first, gathered after it, or past the block).
            let rest = buf.get_mut(k * stride..).unwrap_or(&mut []);
            let len = rest.len().min(stride + 1);
            let at = pix + k;
            gather(
                c.x,
                c.qx.zero_point,
                g,
                (at / c.out_w, at % c.out_w),
                &mut rest[..len],
            );
        }
        for patch in buf.chunks_exact_mut(stride).take(n_pix) {
            patch.get_mut(c.taps..).unwrap_or(&mut []).fill(0);
        }
        for oc0 in (0..g.out_c).step_by(OC_BLOCK) {
            let n = if one_block {
                g.out_c
            } else {
                block.load(c, oc0).1
            };
            for r0 in (0..n).step_by(avx2::MAX_ROWS) {
                let rows = avx2::MAX_ROWS.min(n - r0);
                let w = c.p.weights.get((oc0 + r0) * c.row..).unwrap_or(&[]);
                if !avx2::dot_block(buf, stride, n_pix, w, c.row, rows, &mut sums) {
                    // Shapes the kernel refuses: none that a validated layer has, but the
                    // outputs must still be written.
                    patches(c, pair, block, y);
                    return true;
                }
                for (r, run) in sums.chunks_exact(avx2::MAX_PIXELS).take(rows).enumerate() {
                    let oc = oc0 + r0 + r;
                    let start = oc * out_plane + pix;
                    let out = y.get_mut(start..start + n_pix).unwrap_or(&mut []);
                    let (m, bias) = (block.m[r0 + r], block.bias[r0 + r]);
                    requantize_chunk(c.rounding, (run, bias), m, c.qy.zero_point, c.lo, out);
                }
            }
        }
        pix += n_pix;
    }
    true
}

/// The requantization constants of one block of output channels and its sums.
#[derive(Debug)]
struct Block {
    /// Multipliers.
    m: [f32; OC_BLOCK],
    /// Biases.
    bias: [i32; OC_BLOCK],
    /// Sums of two pixels (interleaved) or of one.
    acc: [i32; 2 * OC_BLOCK],
}

impl Block {
    /// Loads the constants of the block starting at output channel `oc0`; returns it and its
    /// length.
    fn load(&mut self, c: &Conv<'_, '_>, oc0: usize) -> (usize, usize) {
        let n = OC_BLOCK.min(c.g.out_c.saturating_sub(oc0));
        for j in 0..n {
            self.m[j] = multiplier(c.qx.scale, read_f32(c.p.w_scales, oc0 + j), c.qy.scale);
            self.bias[j] = read_i32(c.p.bias, oc0 + j);
        }
        (oc0, n)
    }
}

/// `y[i] = max(requantize(bias + acc[i], m, zero_point), lo)`: a run of outputs of one
/// channel, one loop per rounding so that the f32 one vectorizes on x86_64 (where
/// [`Rounding::F32`]'s rounding is branch-free).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn requantize_chunk(
    rounding: Rounding,
    (acc, bias): (&[i32], i32),
    m: f32,
    zero_point: i32,
    lo: i8,
    y: &mut [i8],
) {
    let outputs = y.iter_mut().zip(acc);
    match rounding {
        Rounding::F32 => {
            for (o, a) in outputs {
                *o = requantize(bias + a, m, zero_point).max(lo);
            }
        }
        Rounding::Exact => {
            for (o, a) in outputs {
                *o = requantize_exact(bias + a, m, zero_point).max(lo);
            }
        }
    }
}

/// [`requantize_chunk`] elsewhere: one loop, where two would only grow the firmware's code
/// (and out of line it grew it by 1.5 KiB).
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn requantize_chunk(
    rounding: Rounding,
    (acc, bias): (&[i32], i32),
    m: f32,
    zero_point: i32,
    lo: i8,
    y: &mut [i8],
) {
    for (o, a) in y.iter_mut().zip(acc) {
        *o = rounding.requantize(bias + a, m, zero_point).max(lo);
    }
}

/// Long patches, and one output channel over a 1-D signal or with a dilated kernel: row
/// segments accumulated per kernel tap (the weights unpadded: `row == taps`).
fn rows(c: &Conv<'_, '_>, acc: &mut [i32; CHUNK], y: &mut [i8]) {
    let Conv {
        x,
        qx,
        p,
        g,
        qy,
        out_h,
        out_w,
        taps,
        row: _,
        lo,
        rounding,
    } = *c;
    let z = qx.zero_point;
    let plane = g.in_h * g.in_w;
    let mut outputs = y.chunks_exact_mut(out_h * out_w);
    for (oc, w_oc) in p.weights.chunks_exact(taps).take(g.out_c).enumerate() {
        let Some(y_oc) = outputs.next() else { return };
        let m = multiplier(qx.scale, read_f32(p.w_scales, oc), qy.scale);
        let bias = read_i32(p.bias, oc);
        for (oy, y_row) in y_oc.chunks_exact_mut(out_w).enumerate() {
            for (c0, y_chunk) in y_row.chunks_mut(CHUNK).enumerate() {
                let ox0 = c0 * CHUNK;
                let n = y_chunk.len();
                acc.fill(bias);
                for (ic, w_ic) in w_oc.chunks_exact(g.k_h * g.k_w).enumerate() {
                    let x_ic = x.get(ic * plane..(ic + 1) * plane).unwrap_or(&[]);
                    for (ky, w_row) in w_ic.chunks_exact(g.k_w).enumerate() {
                        let iy = (oy * g.stride + ky * g.dilation).wrapping_sub(g.pad_h);
                        if iy >= g.in_h {
                            continue; // padding row: contributes 0
                        }
                        let Some(x_row) = x_ic.get(iy * g.in_w..(iy + 1) * g.in_w) else {
                            continue;
                        };
                        for (kx, &wb) in w_row.iter().enumerate() {
                            let w = i32::from(wb as i8);
                            // Output columns j in 0..n whose input column
                            // ix = (ox0 + j) * stride + kx * dilation - pad lies in 0..in_w.
                            let base = (kx * g.dilation) as isize - g.pad_w as isize;
                            let s = g.stride as isize;
                            let first = (ox0 as isize * s + base).max(0);
                            let j_lo = ((first - base + s - 1) / s - ox0 as isize).max(0) as usize;
                            let j_hi = {
                                let last = g.in_w as isize - 1 - base; // (ox0 + j) * s <= last
                                if last < 0 {
                                    0
                                } else {
                                    ((last / s + 1 - ox0 as isize).max(0) as usize).min(n)
                                }
                            };
                            if j_lo >= j_hi {
                                continue;
                            }
                            let ix0 = ((ox0 + j_lo) as isize * s + base) as usize;
                            let accs = &mut acc[j_lo..j_hi];
                            if g.stride == 1 {
                                let xs = x_row.get(ix0..ix0 + accs.len()).unwrap_or(&[]);
                                for (a, &xv) in accs.iter_mut().zip(xs) {
                                    *a += (i32::from(xv) - z) * w;
                                }
                            } else {
                                let xs = x_row.get(ix0..).unwrap_or(&[]).iter().step_by(g.stride);
                                for (a, &xv) in accs.iter_mut().zip(xs) {
                                    *a += (i32::from(xv) - z) * w;
                                }
                            }
                        }
                    }
                }
                requantize_chunk(rounding, (&acc[..n], 0), m, qy.zero_point, lo, y_chunk);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::reference;
    use crate::kernels::reference::tests::{Lcg, scales_bytes};
    extern crate std;
    use std::vec::Vec;

    #[test]
    fn bit_exact_with_reference_over_random_shapes() {
        let mut rng = Lcg(99);
        let mut outputs = 0usize;
        for case in 0..400 {
            let k = [1, 3, 1, 3, 5, 2][case % 6];
            let stride = 1 + (rng.next() % 2) as usize;
            let pad = (rng.next() % (k as u32 / 2 + 2)) as usize;
            let linear = case % 7 == 0;
            let long = case % 10 == 5; // patches longer than MAX_PATCH: the row fallback
            // Transposed convs (the input stuffed), some with long patches too.
            let stuffed = !linear && case % 5 == 3;
            let up = if stuffed { 2 + case % 2 } else { 1 };
            // Grouped (some depthwise), dilated, and 1-D (one row, padding on columns only).
            let groups = if linear { 1 } else { [1, 1, 2, 3][case % 4] };
            let dilation = if linear || stuffed {
                1
            } else {
                1 + case % 3 / 2
            };
            let one_d = !linear && case % 6 == 4;
            // Long patches: past MAX_PATCH (the row fallback) or between PAIR_TAPS and
            // MAX_PATCH (one pixel at a time).
            let icg = if long && case % 20 == 5 {
                60 + (rng.next() % 40) as usize
            } else if long {
                120 + (rng.next() % 9) as usize
            } else {
                1 + (rng.next() % 5) as usize
            };
            let (k_h, k_w) = match (linear, long, one_d) {
                (true, ..) => (1, 1),
                (_, true, _) => (3, 3),
                (_, _, true) => (1, k),
                _ => (k, k),
            };
            let g = ConvGeometry {
                in_c: icg * groups,
                in_h: if linear || one_d {
                    1
                } else {
                    1 + (rng.next() % 12) as usize
                },
                in_w: if linear {
                    1
                } else {
                    1 + (rng.next() % 80) as usize
                },
                // Some with more than one block of OC_BLOCK output channels.
                out_c: groups * (1 + (rng.next() % if case % 8 == 1 { 40 } else { 4 }) as usize),
                k_h,
                k_w,
                stride: if linear || stuffed { 1 } else { stride },
                pad_h: if linear || one_d { 0 } else { pad },
                pad_w: if linear { 0 } else { pad },
                dilation,
                groups,
                up,
                out_pad: if stuffed { case % up } else { 0 },
            };
            let (Some(oh), Some(ow)) = (g.out_h(), g.out_w()) else {
                continue;
            };
            let x: Vec<i8> = (0..g.in_c * g.in_h * g.in_w).map(|_| rng.i8()).collect();
            let w: Vec<u8> = (0..g.out_c * g.taps())
                .map(|_| rng.i8().max(-127) as u8)
                .collect();
            let bias: Vec<u8> = (0..g.out_c)
                .flat_map(|_| (rng.i8() as i32 * 97).to_le_bytes())
                .collect();
            let s_w: Vec<f32> = (0..g.out_c).map(|_| 1e-3 + rng.unit() * 1e-2).collect();
            let sw = scales_bytes(&s_w);
            let p = DenseParams {
                weights: &w,
                bias: &bias,
                w_scales: &sw,
            };
            let qx = QParams {
                scale: 0.01 + rng.unit() * 0.1,
                zero_point: rng.i8() as i32,
            };
            let qy = QParams {
                scale: 0.01 + rng.unit() * 0.3,
                zero_point: rng.i8() as i32,
            };
            let relu = case % 3 == 0;
            let mut a = std::vec![0i8; g.out_c * oh * ow];
            let mut b = a.clone();
            reference::conv2d(&x, qx, &p, &g, qy, relu, &mut a);
            conv2d(&x, qx, &p, &g, qy, relu, &mut b);
            assert_eq!(a, b, "case {case}: {g:?}");
            outputs += a.len();
        }
        std::println!("optimized conv == reference on {outputs} outputs");
    }
}
