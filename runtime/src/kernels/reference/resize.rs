//! Nearest-neighbour upsampling (exact: values and quantization are unchanged).

/// Repeats every value of each `[h, w]` plane `fh` times down and `fw` times across.
pub fn upsample_nearest(x: &[i8], [h, w]: [usize; 2], [fh, fw]: [usize; 2], y: &mut [i8]) {
    if h == 0 || w == 0 || fh == 0 || fw == 0 {
        return;
    }
    let out_w = w * fw;
    for (x_c, y_c) in x
        .chunks_exact(h * w)
        .zip(y.chunks_exact_mut(h * w * fh * fw))
    {
        for (oy, y_row) in y_c.chunks_exact_mut(out_w).enumerate() {
            let x_row = x_c.chunks_exact(w).nth(oy / fh).unwrap_or(&[]);
            for (o, v) in y_row.chunks_exact_mut(fw).zip(x_row) {
                o.fill(*v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_each_axis() {
        let x = [1i8, 2, 3, 4, 5, 6, 7, 8]; // 2 channels of 2x2
        let mut y = [0i8; 32];
        upsample_nearest(&x, [2, 2], [2, 2], &mut y);
        assert_eq!(&y[..16], &[1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
        assert_eq!(&y[16..20], &[5, 5, 6, 6]);
    }

    #[test]
    fn widens_a_signal() {
        let x = [1i8, 2, 3, 4, 5, 6]; // 2 channels of 1x3
        let mut y = [0i8; 18];
        upsample_nearest(&x, [1, 3], [1, 3], &mut y);
        assert_eq!(y, [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6]);
    }
}
