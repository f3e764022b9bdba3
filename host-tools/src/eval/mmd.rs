//! Maximum mean discrepancy with a Gaussian (RBF) kernel, unbiased estimator.

/// MMD^2 between `a` and `b` (rows of `dim` values) with kernel `exp(-|x - y|^2 / (2 h^2))`,
/// over at most `max_points` rows of each.
pub fn mmd2_rbf(a: &[f32], b: &[f32], dim: usize, h: f64, max_points: usize) -> f64 {
    let take = |v: &[f32]| -> Vec<Vec<f64>> {
        v.chunks_exact(dim)
            .take(max_points)
            .map(|r| r.iter().map(|x| f64::from(*x)).collect())
            .collect()
    };
    let (x, y) = (take(a), take(b));
    let k = |p: &[f64], q: &[f64]| {
        let d2: f64 = p.iter().zip(q).map(|(u, v)| (u - v).powi(2)).sum();
        (-d2 / (2.0 * h * h)).exp()
    };
    let within = |s: &[Vec<f64>]| {
        let n = s.len() as f64;
        let mut sum = 0.0;
        for i in 0..s.len() {
            for j in 0..s.len() {
                if i != j {
                    sum += k(&s[i], &s[j]);
                }
            }
        }
        sum / (n * (n - 1.0))
    };
    let mut cross = 0.0;
    for p in &x {
        for q in &y {
            cross += k(p, q);
        }
    }
    within(&x) + within(&y) - 2.0 * cross / (x.len() as f64 * y.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_for_identical_sets_and_positive_for_shifted() {
        let a: Vec<f32> = (0..200).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = a.iter().map(|v| v + 1.0).collect();
        assert!(mmd2_rbf(&a, &a, 2, 0.5, 100).abs() < 1e-2);
        assert!(mmd2_rbf(&a, &b, 2, 0.5, 100) > 0.1);
    }
}
