//! Data movement without arithmetic: axis permutation (Transpose, and Reshape as its identity)
//! and slicing along one axis (Split, Slice, Gather of one index). Values and quantization
//! are unchanged; the host's float evaluator runs the same functions on `f32`.

/// `y = x` viewed as `dims` (row-major, up to 4 axes) with its axes permuted by `perm`: output
/// axis `i` is input axis `perm[i]`. `perm` must be a permutation of `0..4`; anything else
/// writes nothing.
pub fn transpose<T: Copy>(x: &[T], dims: [usize; 4], perm: [usize; 4], y: &mut [T]) {
    let mut seen = [false; 4];
    for p in perm {
        match seen.get_mut(p) {
            Some(s) if !*s => *s = true,
            _ => return,
        }
    }
    // Row-major strides of the input, read in output-axis order.
    let strides = [dims[1] * dims[2] * dims[3], dims[2] * dims[3], dims[3], 1];
    let (od, os) = (perm.map(|p| dims[p]), perm.map(|p| strides[p]));
    let mut out = y.iter_mut();
    for a in 0..od[0] {
        for b in 0..od[1] {
            for c in 0..od[2] {
                let base = a * os[0] + b * os[1] + c * os[2];
                for d in 0..od[3] {
                    let (Some(o), Some(v)) = (out.next(), x.get(base + d * os[3])) else {
                        return;
                    };
                    *o = *v;
                }
            }
        }
    }
}

/// Where a slice along one axis reads: `x` viewed as `[outer, axis, inner]`, the output is
/// `[outer, len, inner]` from `start` on that axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SliceGeometry {
    /// Length of the sliced axis in the input.
    pub axis: usize,
    /// First index taken.
    pub start: usize,
    /// Indices taken.
    pub len: usize,
    /// Elements per index of the axis (product of the axes after it).
    pub inner: usize,
}

/// `y = x[:, start..start + len, :]` in the view of `g`.
pub fn slice<T: Copy>(x: &[T], g: &SliceGeometry, y: &mut [T]) {
    let (block, take) = (g.axis * g.inner, g.len * g.inner);
    if block == 0 || take == 0 {
        return;
    }
    for (x_o, y_o) in x.chunks_exact(block).zip(y.chunks_exact_mut(take)) {
        if let Some(src) = x_o.get(g.start * g.inner..g.start * g.inner + take) {
            y_o.copy_from_slice(src);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposes_the_last_two_axes() {
        let x = [1i8, 2, 3, 4, 5, 6]; // [2, 3]
        let mut y = [0i8; 6];
        transpose(&x, [1, 1, 2, 3], [0, 1, 3, 2], &mut y);
        assert_eq!(y, [1, 4, 2, 5, 3, 6]);
    }

    #[test]
    fn permutes_four_axes() {
        let x: [i8; 24] = core::array::from_fn(|i| i as i8); // [2, 3, 2, 2]
        let mut y = [0i8; 24];
        transpose(&x, [2, 3, 2, 2], [2, 0, 3, 1], &mut y);
        // y[c][a][d][b] = x[a][b][c][d]
        for (i, v) in y.iter().enumerate() {
            let (c, a, d, b) = (i / 12, (i / 6) % 2, (i / 3) % 2, i % 3);
            assert_eq!(i32::from(*v), (a * 12 + b * 4 + c * 2 + d) as i32);
        }
    }

    #[test]
    fn rejects_a_non_permutation() {
        let mut y = [7i8; 4];
        transpose(&[1, 2, 3, 4], [1, 1, 2, 2], [0, 1, 1, 3], &mut y);
        assert_eq!(y, [7; 4]);
    }

    #[test]
    fn slices_the_middle_axis() {
        let x: [i8; 12] = core::array::from_fn(|i| i as i8); // [2, 3, 2]
        let mut y = [0i8; 4];
        let g = SliceGeometry {
            axis: 3,
            start: 1,
            len: 1,
            inner: 2,
        };
        slice(&x, &g, &mut y);
        assert_eq!(y, [2, 3, 8, 9]);
    }
}
