//! The inner loop of every conv and linear layer: `sum(a[i] * w[i])` with `a` the gathered
//! input patch (`x - z_x` as `i16`) and `w` a row of int8 weights. Integer sums are exact in
//! any order, so every variant here is bit-exact with the reference kernels.
//!
//! - Portable (default): a plain iterator sum, which LLVM turns into widening multiply-adds
//!   (`pmaddwd` on x86_64; with `std` on an AVX2 CPU the same code compiled for AVX2 is
//!   picked at run time). [`prepare`] does nothing.
//! - Cortex-M DSP extension (feature `dsp`, [`super::dsp`]): so that each patch word lines up
//!   with the weight pairs `SXTB16` makes, [`prepare`] stores every full group of four taps
//!   as `[a0, a2, a1, a3]`; a remainder of fewer than four taps stays in order and is summed
//!   plainly. The blocked forms ([`dot_pair`], [`dot_rows`]) run the assembly kernels on the
//!   full groups. The accumulator cannot overflow: the pack reader bounds every layer's
//!   accumulator below 2^31.
//!
//! Besides the single dot product there are the two blocked forms the conv kernel uses: two
//! output pixels against the rows of a block of output channels ([`dot_pair`]), and one pixel
//! against them ([`dot_rows`]).

#[cfg(feature = "dsp")]
use super::dsp;

/// Taps of each patch of a [`PatchPair`].
pub const PAIR_TAPS: usize = 512;

/// Two gathered patches, one per output pixel, the second at a fixed offset from the first
/// (the DSP kernel addresses it so), 8-byte aligned.
#[derive(Debug)]
#[repr(C, align(8))]
pub struct PatchPair(pub [[i16; PAIR_TAPS]; 2]);

#[cfg(feature = "dsp")]
const _: () = assert!(PAIR_TAPS * 2 == dsp::PAIR_OFFSET);

/// Reorders a gathered patch for [`dot_i16_i8`] (the DSP pair layout; a no-op otherwise).
#[inline]
pub fn prepare(patch: &mut [i16]) {
    #[cfg(feature = "dsp")]
    for g in patch.chunks_exact_mut(4) {
        g.swap(1, 2);
    }
    #[cfg(not(feature = "dsp"))]
    let _ = patch;
}

/// `sum(a[i] * w[i] as i8)` over the shorter of the two slices, with `a` laid out by
/// [`prepare`].
#[cfg(not(feature = "dsp"))]
#[inline]
pub fn dot_i16_i8(a: &[i16], w: &[u8]) -> i32 {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if std::is_x86_feature_detected!("avx2") {
        return x86::dot_avx2(a, w);
    }
    plain(a, w)
}

/// x86_64 with `std`: the same sum compiled with AVX2 enabled (`vpmaddwd` on 16 lanes),
/// chosen at run time when the CPU has it. The default target (x86-64 baseline) only allows
/// SSE2.
#[cfg(all(feature = "std", target_arch = "x86_64", not(feature = "dsp")))]
#[allow(unsafe_code)]
mod x86 {
    #[target_feature(enable = "avx2")]
    fn plain_avx2(a: &[i16], w: &[u8]) -> i32 {
        super::plain(a, w)
    }

    /// [`super::plain`] with AVX2.
    #[inline]
    pub fn dot_avx2(a: &[i16], w: &[u8]) -> i32 {
        // SAFETY: the caller checked `is_x86_feature_detected!("avx2")`, the only requirement
        // of a `target_feature(enable = "avx2")` function.
        unsafe { plain_avx2(a, w) }
    }
}

#[inline(always)]
fn plain(a: &[i16], w: &[u8]) -> i32 {
    a.iter()
        .zip(w)
        .map(|(&x, &w)| i32::from(x) * i32::from(w as i8))
        .sum()
}

/// `sum(a[i] * w[i] as i8)` over the shorter of the two slices, with `a` laid out by
/// [`prepare`].
#[cfg(feature = "dsp")]
#[inline]
pub fn dot_i16_i8(a: &[i16], w: &[u8]) -> i32 {
    let n = a.len().min(w.len());
    let full = n - n % 4;
    let (a4, a_rest) = a[..n].split_at(full);
    let (w4, w_rest) = w[..n].split_at(full);
    let mut acc = 0i32;
    for (pa, pw) in a4.chunks_exact(4).zip(w4.chunks_exact(4)) {
        let a02 = pair(pa[0], pa[1]);
        let a13 = pair(pa[2], pa[3]);
        let word = u32::from_le_bytes([pw[0], pw[1], pw[2], pw[3]]);
        acc = dsp::smlad(a02, dsp::sxtb16(word), acc);
        acc = dsp::smlad(a13, dsp::sxtb16_ror8(word), acc);
    }
    acc + plain(a_rest, w_rest)
}

/// Two halfwords in one word, `lo` in bits 0..16.
#[cfg(feature = "dsp")]
#[inline(always)]
fn pair(lo: i16, hi: i16) -> u32 {
    u32::from(lo as u16) | (u32::from(hi as u16) << 16)
}

#[cfg(all(feature = "dsp", not(target_arch = "arm")))]
compile_error!("the `dsp` feature needs an ARM target with the DSP extension (e.g. thumbv7em)");

/// `out[2 r + k] = dot(patch k of pair, weight row r)` for the rows `r` of `taps` weights
/// each in `w` (as many as `out` has room for), both patches laid out by [`prepare`].
pub fn dot_pair(pair: &PatchPair, taps: usize, w: &[u8], out: &mut [i32]) {
    if taps == 0 || taps > PAIR_TAPS {
        return out.fill(0);
    }
    let rows = (out.len() / 2).min(w.len() / taps);
    #[cfg(feature = "dsp")]
    let done = {
        let (groups, even) = (taps / 4, rows - rows % 2);
        let out_even = dsp::Out::Sums(&mut out[..2 * even]);
        if even > 0 && dsp::pair_rows(pair.0.as_flattened(), w, (taps, groups, even / 2), out_even)
        {
            for (r, row) in w.chunks_exact(taps).take(even).enumerate() {
                for (k, patch) in pair.0.iter().enumerate() {
                    out[2 * r + k] += plain(&patch[4 * groups..taps], &row[4 * groups..]);
                }
            }
            even
        } else {
            0
        }
    };
    #[cfg(not(feature = "dsp"))]
    let done = 0;
    for (r, row) in w.chunks_exact(taps).enumerate().take(rows).skip(done) {
        for (k, patch) in pair.0.iter().enumerate() {
            out[2 * r + k] = dot_i16_i8(&patch[..taps], row);
        }
    }
}

/// `out[r] = dot(patch, weight row r)` for the rows `r` of `patch.len()` weights each in `w`
/// (as many as `out` has room for), the patch laid out by [`prepare`].
pub fn dot_rows(patch: &[i16], w: &[u8], out: &mut [i32]) {
    let taps = patch.len();
    if taps == 0 {
        return out.fill(0);
    }
    let rows = out.len().min(w.len() / taps);
    #[cfg(feature = "dsp")]
    let done = {
        let (groups, quads) = (taps / 4, rows - rows % 4);
        let out_quads = dsp::Out::Sums(&mut out[..quads]);
        if quads > 0 && dsp::quad_rows(patch, w, (taps, groups, quads / 4), out_quads) {
            for (o, row) in out.iter_mut().zip(w.chunks_exact(taps)).take(quads) {
                *o += plain(&patch[4 * groups..], &row[4 * groups..]);
            }
            quads
        } else {
            0
        }
    };
    #[cfg(not(feature = "dsp"))]
    let done = 0;
    for (o, row) in out
        .iter_mut()
        .zip(w.chunks_exact(taps))
        .take(rows)
        .skip(done)
    {
        *o = dot_i16_i8(patch, row);
    }
}

/// Outputs requantized by the blocked kernels themselves: row `r`, pixel `i` becomes
/// `max(requantize(bias[r] + sum, m[r], zero_point), lo)` at `y[r * stride + i]`
/// ([`crate::kernels::quant::requantize`]). Only the DSP kernels read it.
#[cfg_attr(not(feature = "dsp"), allow(dead_code))]
pub struct Int8Out<'a> {
    /// The outputs.
    pub y: &'a mut [i8],
    /// Elements between the outputs of two rows.
    pub stride: usize,
    /// One bias per row.
    pub bias: &'a [i32],
    /// One multiplier per row.
    pub m: &'a [f32],
    /// Output zero point.
    pub zero_point: i32,
    /// The lowest output.
    pub lo: i8,
}

/// [`dot_pair`] requantized into `q` by the kernel, for as many of the first `rows` weight
/// rows as it can: the DSP kernel takes an even number of rows when the taps are a multiple
/// of 4 and every multiplier is finite. Returns the rows done (0 without DSP); the caller
/// sums and requantizes the rest.
pub fn dot_pair_int8(
    pair: &PatchPair,
    taps: usize,
    w: &[u8],
    rows: usize,
    q: Int8Out<'_>,
) -> usize {
    #[cfg(feature = "dsp")]
    {
        let even = rows - rows % 2;
        let shape = (taps, taps / 4, even / 2);
        let ok = taps.is_multiple_of(4)
            && taps <= PAIR_TAPS
            && even > 0
            && dsp::pair_rows(pair.0.as_flattened(), w, shape, dsp::Out::Int8(q));
        if ok { even } else { 0 }
    }
    #[cfg(not(feature = "dsp"))]
    {
        let _ = (pair, taps, w, rows, q);
        0
    }
}

/// [`dot_rows`] requantized into `q` by the kernel, as [`dot_pair_int8`] (the DSP kernel
/// takes a multiple of 4 rows).
pub fn dot_rows_int8(patch: &[i16], w: &[u8], rows: usize, q: Int8Out<'_>) -> usize {
    #[cfg(feature = "dsp")]
    {
        let (taps, quads) = (patch.len(), rows - rows % 4);
        let shape = (taps, taps / 4, quads / 4);
        let ok = taps.is_multiple_of(4)
            && quads > 0
            && dsp::quad_rows(patch, w, shape, dsp::Out::Int8(q));
        if ok { quads } else { 0 }
    }
    #[cfg(not(feature = "dsp"))]
    {
        let _ = (patch, w, rows, q);
        0
    }
}
