//! Max pooling: a selection of int8 values, so exact under any quantization.

use super::ConvGeometry;

/// `y[c, oy, ox]` = the largest `x[c, iy, ix]` under the window of geometry `g` (taps in the
/// padding skipped; `lowest` if a window has none). Generic so that the host's float graph
/// runs the same windows.
pub fn max_pool<T: Copy + PartialOrd>(x: &[T], g: &ConvGeometry, lowest: T, y: &mut [T]) {
    let (Some(out_h), Some(out_w)) = (g.out_h(), g.out_w()) else {
        return;
    };
    let plane = g.in_h * g.in_w;
    for (x_c, y_c) in x.chunks_exact(plane).zip(y.chunks_exact_mut(out_h * out_w)) {
        for (oy, y_row) in y_c.chunks_exact_mut(out_w).enumerate() {
            for (ox, out) in y_row.iter_mut().enumerate() {
                let mut m = lowest;
                for iy in (0..g.k_h).filter_map(|ky| g.row(oy, ky)) {
                    for ix in (0..g.k_w).filter_map(|kx| g.col(ox, kx)) {
                        let v = x_c.get(iy * g.in_w + ix).copied().unwrap_or(lowest);
                        if v > m {
                            m = v;
                        }
                    }
                }
                *out = m;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::reference::ConvSpec;

    #[test]
    fn takes_the_window_maximum_and_skips_padding() {
        // One channel 1 x 6, window 3, stride 2, padding 1 (PyTorch's max_pool1d(x, 3, 2, 1)).
        let x = [-5i8, 3, -7, 9, -100, -100];
        let g = ConvSpec {
            pad: [0, 1],
            ..ConvSpec::new([1, 3], 2, 0)
        }
        .on([1, 1, 6], 1);
        let mut y = [0i8; 3];
        max_pool(&x, &g, i8::MIN, &mut y);
        assert_eq!(y, [3, 9, 9]);
        // 2 x 2 windows over two channels of 2 x 4.
        let x = [1i8, 2, 3, 4, 5, 6, 7, 8, -1, -2, -3, -4, -5, -6, -7, -8];
        let g = ConvSpec::new([2, 2], 2, 0).on([2, 2, 4], 2);
        let mut y = [0i8; 4];
        max_pool(&x, &g, i8::MIN, &mut y);
        assert_eq!(y, [6, 8, -1, -3]);
    }
}
