//! The inner loop of every conv and linear layer: `sum(a[i] * w[i])` with `a` the gathered
//! input patch (`x - z_x` as `i16`) and `w` a row of int8 weights.
//!
//! Written as a plain iterator sum: LLVM turns it into widening multiply-adds (`pmaddwd` on
//! x86_64). Integer sums are exact in any order, so every variant is bit-exact.

/// `sum(a[i] * w[i] as i8)` over the shorter of the two slices.
#[inline]
pub fn dot_i16_i8(a: &[i16], w: &[u8]) -> i32 {
    a.iter()
        .zip(w)
        .map(|(&x, &w)| i32::from(x) * i32::from(w as i8))
        .sum()
}
