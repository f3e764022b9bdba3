//! The inner loop of every conv and linear layer: `sum(a[i] * w[i])` with `a` the gathered
//! input patch (`x - z_x` as `i16`) and `w` a row of int8 weights. Integer sums are exact in
//! any order, so every variant here is bit-exact with the reference kernels.
//!
//! - Portable (default): a plain iterator sum, which LLVM turns into widening multiply-adds
//!   (`pmaddwd` on x86_64; with `std` on an AVX2 CPU the same code compiled for AVX2 is
//!   picked at run time). [`prepare`] does nothing.
//! - Cortex-M DSP extension (feature `dsp`, for ARMv7E-M such as the Cortex-M4F and M7, or
//!   ARMv8-M Mainline with DSP): `SMLAD` does two 16 x 16 multiply-adds in one instruction, and
//!   `SXTB16` widens bytes 0 and 2 (or, rotated, 1 and 3) of a weight word into two
//!   halfwords. So that each patch word lines up with those weight pairs, [`prepare`] stores
//!   every full group of four taps as `[a0, a2, a1, a3]`; a remainder of fewer than four
//!   taps stays in order and is summed plainly. The accumulator cannot overflow: the pack
//!   reader bounds every layer's accumulator below 2^31.

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

/// The three DSP instructions, one `asm!` each.
#[cfg(all(feature = "dsp", target_arch = "arm"))]
#[allow(unsafe_code)]
mod dsp {
    use core::arch::asm;

    /// `acc + a.lo * b.lo + a.hi * b.hi` (signed halfwords).
    #[inline(always)]
    pub fn smlad(a: u32, b: u32, acc: i32) -> i32 {
        let r: i32;
        // SAFETY: SMLAD reads three registers and writes one; no memory, no stack, no flags
        // that Rust relies on (it may set Q, which nothing here reads).
        unsafe {
            asm!("smlad {r}, {a}, {b}, {c}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b,
                 c = in(reg) acc, options(pure, nomem, nostack, preserves_flags));
        }
        r
    }

    /// Sign-extends bytes 0 and 2 of `x` into the two halfwords.
    #[inline(always)]
    pub fn sxtb16(x: u32) -> u32 {
        let r: u32;
        // SAFETY: register-only, as above.
        unsafe {
            asm!("sxtb16 {r}, {x}", r = lateout(reg) r, x = in(reg) x,
                 options(pure, nomem, nostack, preserves_flags));
        }
        r
    }

    /// Sign-extends bytes 1 and 3 of `x` into the two halfwords.
    #[inline(always)]
    pub fn sxtb16_ror8(x: u32) -> u32 {
        let r: u32;
        // SAFETY: register-only, as above.
        unsafe {
            asm!("sxtb16 {r}, {x}, ror #8", r = lateout(reg) r, x = in(reg) x,
                 options(pure, nomem, nostack, preserves_flags));
        }
        r
    }
}
