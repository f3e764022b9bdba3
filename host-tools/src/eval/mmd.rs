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
    fn near_zero_for_the_same_distribution_and_positive_for_a_shift() {
        let pts: Vec<f32> = (0..800).map(|i| (i as f32 * 0.37).sin()).collect();
        let (a, b) = pts.split_at(400);
        let shifted: Vec<f32> = b.iter().map(|v| v + 1.0).collect();
        let same = mmd2_rbf(a, b, 2, 0.5, 200);
        let moved = mmd2_rbf(a, &shifted, 2, 0.5, 200);
        assert!(same.abs() < 0.02, "{same}");
        assert!(moved > 0.1, "{moved}");
    }
}
