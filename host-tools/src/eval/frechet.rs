//! Fréchet distance between two sets of feature vectors, each modelled as a Gaussian:
//! `|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2)`.
//! Symmetric square roots come from a Jacobi eigen-decomposition.

/// Mean and covariance of `n x dim` row-major features.
pub fn moments(x: &[f64], dim: usize) -> (Vec<f64>, Vec<f64>) {
    let n = (x.len() / dim).max(1) as f64;
    let mut mu = vec![0.0; dim];
    for row in x.chunks_exact(dim) {
        for (m, v) in mu.iter_mut().zip(row) {
            *m += v / n;
        }
    }
    let mut cov = vec![0.0; dim * dim];
    for row in x.chunks_exact(dim) {
        for i in 0..dim {
            let di = row[i] - mu[i];
            for j in 0..dim {
                cov[i * dim + j] += di * (row[j] - mu[j]) / (n - 1.0).max(1.0);
            }
        }
    }
    (mu, cov)
}

/// Eigenvalues and eigenvectors (columns of the returned matrix) of a symmetric matrix.
pub fn jacobi_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |j| *j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j].powi(2))
            .sum();
        if off < 1e-22 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

fn matmul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut c = vec![0.0; n * n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i * n + k];
            for j in 0..n {
                c[i * n + j] += aik * b[k * n + j];
            }
        }
    }
    c
}

/// The symmetric square root of a positive semi-definite matrix.
pub fn sqrtm_psd(a: &[f64], n: usize) -> Vec<f64> {
    let (w, v) = jacobi_eigen(a, n);
    let mut out = vec![0.0; n * n];
    for (k, lam) in w.iter().enumerate() {
        let s = lam.max(0.0).sqrt();
        for i in 0..n {
            for j in 0..n {
                out[i * n + j] += v[i * n + k] * s * v[j * n + k];
            }
        }
    }
    out
}

/// Fréchet distance between feature sets `a` and `b` (rows of `dim`).
pub fn frechet_distance(a: &[f64], b: &[f64], dim: usize) -> f64 {
    let (ma, sa) = moments(a, dim);
    let (mb, sb) = moments(b, dim);
    let mean: f64 = ma.iter().zip(&mb).map(|(x, y)| (x - y).powi(2)).sum();
    let ra = sqrtm_psd(&sa, dim);
    let mid = matmul(&matmul(&ra, &sb, dim), &ra, dim);
    let (w, _) = jacobi_eigen(&mid, dim);
    let tr_sqrt: f64 = w.iter().map(|l| l.max(0.0).sqrt()).sum();
    let tr = |m: &[f64]| (0..dim).map(|i| m[i * dim + i]).sum::<f64>();
    mean + tr(&sa) + tr(&sb) - 2.0 * tr_sqrt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussians_with_known_distance() {
        // Diagonal covariances: FD = |mu|^2 + sum (sqrt(a) - sqrt(b))^2.
        let mut g = edgediff_runtime::noise::GaussianNoise::new(1);
        use edgediff_runtime::noise::NoiseSource;
        let n = 20_000;
        let a: Vec<f64> = (0..n * 2)
            .map(|i| f64::from(g.next_normal().unwrap()) * if i % 2 == 0 { 1.0 } else { 2.0 })
            .collect();
        let b: Vec<f64> = (0..n * 2)
            .map(|i| f64::from(g.next_normal().unwrap()) * if i % 2 == 0 { 1.0 } else { 3.0 } + 0.5)
            .collect();
        let fd = frechet_distance(&a, &b, 2);
        let want = 0.5 + 0.0 + 1.0; // |mu|^2 = 0.25 * 2, (2 - 3)^2 = 1
        assert!((fd - want).abs() < 0.1, "{fd}");
        assert!(frechet_distance(&a, &a, 2).abs() < 1e-6);
    }
}
