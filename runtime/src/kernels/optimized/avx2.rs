//! x86_64 with `std`, on a CPU that has AVX2 (detected at run time): a register-blocked
//! `i16 x i8` dot product over several im2col patches and weight rows at once, two rows by
//! four patches in eight accumulators, each weight vector (16 bytes widened to `i16`) meeting
//! every patch and each patch vector every row. Integer sums are exact in any order, so the
//! results are the bits of the portable code.

#![allow(unsafe_code)]

use core::arch::x86_64::{
    __m128i, __m256i, _mm_add_epi32, _mm_loadu_si128, _mm_storeu_si128, _mm256_add_epi32,
    _mm256_castsi256_si128, _mm256_cvtepi8_epi16, _mm256_extracti128_si256, _mm256_hadd_epi32,
    _mm256_loadu_si256, _mm256_madd_epi16, _mm256_setzero_si256,
};

/// Patches in one block, at most.
pub const MAX_PIXELS: usize = 8;
/// Weight rows per call of [`dot_block`], at most (its sums fill `rows * MAX_PIXELS`).
pub const MAX_ROWS: usize = 8;

/// The longest patch stride: a row near the end of the weights is read from a copy this long.
const COPY: usize = 2 * super::conv::MAX_PATCH;

/// Whether the CPU has AVX2.
pub fn available() -> bool {
    std::is_x86_feature_detected!("avx2")
}

/// `out[r * MAX_PIXELS + p] = sum(patch p [i] * row r [i] as i8)` for the `pixels` patches
/// of `stride` taps each in `patches` (`stride` a multiple of 16, the taps past the
/// weight row's zeros) and the `rows` weight rows of `w`, `w_stride` bytes apart.
/// Returns false (and computes nothing) when the shapes do not fit these limits or the
/// CPU lacks AVX2.
pub fn dot_block(
    patches: &[i16],
    stride: usize,
    pixels: usize,
    w: &[u8],
    w_stride: usize,
    rows: usize,
    out: &mut [i32; MAX_ROWS * MAX_PIXELS],
) -> bool {
    let fits = stride > 0
        && stride.is_multiple_of(16)
        && (1..=MAX_PIXELS).contains(&pixels)
        && (1..=MAX_ROWS).contains(&rows)
        && pixels * stride <= patches.len()
        && w_stride > 0
        && w_stride <= stride
        && stride <= COPY;
    if !fits || !available() {
        return false;
    }
    // Rows whose 16-byte reads stay inside `w`: the reads of a row run `stride` bytes from
    // its start, into the next row's weights, which meet the patches' zeros.
    let direct = (0..rows)
        .take_while(|&r| r * w_stride + stride <= w.len())
        .count();
    // SAFETY: AVX2 is present (checked above); the kernels read `stride` taps of each of
    // `pixels` patches (inside `patches`) and `stride` bytes from the start of each of
    // their rows (inside `w` for the first `direct` rows, inside the copy for the rest).
    unsafe {
        block(
            patches,
            stride,
            pixels,
            w.as_ptr(),
            w_stride,
            direct,
            out,
            0,
        );
        if direct == rows {
            return true;
        }
        let mut copy = [0u8; COPY];
        for r in direct..rows {
            let start = r * w_stride;
            let row = w.get(start..(start + w_stride).min(w.len())).unwrap_or(&[]);
            copy[..row.len()].copy_from_slice(row);
            copy[row.len()..stride].fill(0);
            block(patches, stride, pixels, copy.as_ptr(), w_stride, 1, out, r);
        }
    }
    true
}

/// [`dot_block`] on `rows` rows from `w` (every read in bounds), writing rows
/// `first_row..`: rows in pairs and patches in fours, the remainders one at a time.
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn block(
    patches: &[i16],
    stride: usize,
    pixels: usize,
    w: *const u8,
    w_stride: usize,
    rows: usize,
    out: &mut [i32; MAX_ROWS * MAX_PIXELS],
    first_row: usize,
) {
    let a = patches.as_ptr();
    let mut r = 0;
    while r < rows {
        let nr = if rows - r >= 2 { 2 } else { 1 };
        let mut p = 0;
        while p < pixels {
            let np = if pixels - p >= 4 { 4 } else { 1 };
            let mut sums = [0i32; 8];
            // SAFETY: as in `dot_block` for rows r..r + nr and patches p..p + np.
            unsafe {
                let (wr, ap) = (w.add(r * w_stride), a.add(p * stride));
                match (nr, np) {
                    (2, 4) => micro::<2, 4, 8>(ap, stride, wr, w_stride, &mut sums),
                    (2, _) => micro::<2, 1, 2>(ap, stride, wr, w_stride, &mut sums),
                    (_, 4) => micro::<1, 4, 4>(ap, stride, wr, w_stride, &mut sums),
                    _ => micro::<1, 1, 1>(ap, stride, wr, w_stride, &mut sums),
                }
            }
            for i in 0..nr {
                for j in 0..np {
                    out[(first_row + r + i) * MAX_PIXELS + p + j] = sums[i * np + j];
                }
            }
            p += np;
        }
        r += nr;
    }
}

/// `R` rows x `P` patches (`N = R * P` accumulators), 16 taps per step: each weight
/// vector (16 bytes widened to `i16`) meets every patch, each patch vector every row.
/// `sums[i * P + j]` is row `i` against patch `j`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn micro<const R: usize, const P: usize, const N: usize>(
    a: *const i16,
    stride: usize,
    w: *const u8,
    w_stride: usize,
    sums: &mut [i32; 8],
) {
    let mut acc = [_mm256_setzero_si256(); N];
    let mut t = 0;
    while t < stride {
        // SAFETY: the caller's bounds: taps t..t + 16 of each patch and row.
        unsafe {
            let mut wv = [_mm256_setzero_si256(); R];
            for (i, v) in wv.iter_mut().enumerate() {
                *v = _mm256_cvtepi8_epi16(_mm_loadu_si128(
                    w.add(i * w_stride + t).cast::<__m128i>(),
                ));
            }
            for j in 0..P {
                let av = _mm256_loadu_si256(a.add(j * stride + t).cast::<__m256i>());
                for i in 0..R {
                    acc[i * P + j] = _mm256_add_epi32(acc[i * P + j], _mm256_madd_epi16(av, wv[i]));
                }
            }
        }
        t += 16;
    }
    // Horizontal sums, four accumulators at a time.
    let zero = _mm256_setzero_si256();
    let mut k = 0;
    while k < N {
        let get = |i: usize| if k + i < N { acc[k + i] } else { zero };
        let h = _mm256_hadd_epi32(
            _mm256_hadd_epi32(get(0), get(1)),
            _mm256_hadd_epi32(get(2), get(3)),
        );
        let four = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h));
        let mut lanes = [0i32; 4];
        // SAFETY: a 16-byte store into a local array of four `i32`.
        unsafe { _mm_storeu_si128(lanes.as_mut_ptr().cast::<__m128i>(), four) };
        for (s, v) in sums[k..N.min(k + 4)].iter_mut().zip(lanes) {
            *s = v;
        }
        k += 4;
    }
}
