//! Nearest-neighbour upsampling (exact: values and quantization are unchanged).

/// `[c, h, w] -> [c, h * factor, w * factor]`, each input element repeated in a
/// `factor x factor` block.
pub fn upsample_nearest(x: &[i8], h: usize, w: usize, factor: usize, y: &mut [i8]) {
    if h == 0 || w == 0 || factor == 0 {
        return;
    }
    let out_w = w * factor;
    for (x_c, y_c) in x
        .chunks_exact(h * w)
        .zip(y.chunks_exact_mut(h * w * factor * factor))
    {
        for (oy, y_row) in y_c.chunks_exact_mut(out_w).enumerate() {
            let x_row = x_c.chunks_exact(w).nth(oy / factor).unwrap_or(&[]);
            for (o, v) in y_row.chunks_exact_mut(factor).zip(x_row) {
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
        upsample_nearest(&x, 2, 2, 2, &mut y);
        assert_eq!(&y[..16], &[1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
        assert_eq!(&y[16..20], &[5, 5, 6, 6]);
    }
}
