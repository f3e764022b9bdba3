//! Sliced Wasserstein-1 distance between two equally sized point sets.
//!
//! For each of `directions` random unit vectors, both sets are projected onto it and sorted;
//! the 1-D Wasserstein-1 distance is then the mean absolute difference of the sorted
//! projections. The result is the mean over directions.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// Sliced W1 between `a` and `b` (each `n * dim` values, row-major), or `None` when the sets
/// differ in size or are empty.
pub fn sliced_w1(a: &[f32], b: &[f32], dim: usize, directions: usize, seed: u64) -> Option<f64> {
    if dim == 0 || a.is_empty() || a.len() != b.len() || !a.len().is_multiple_of(dim) {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut total = 0.0;
    for _ in 0..directions {
        let dir = random_unit(&mut rng, dim);
        let project = |pts: &[f32]| {
            let mut p: Vec<f64> = pts
                .chunks_exact(dim)
                .map(|x| x.iter().zip(&dir).map(|(v, d)| *v as f64 * d).sum())
                .collect();
            p.sort_by(f64::total_cmp);
            p
        };
        let (pa, pb) = (project(a), project(b));
        total += pa.iter().zip(&pb).map(|(x, y)| (x - y).abs()).sum::<f64>() / pa.len() as f64;
    }
    Some(total / directions as f64)
}

/// A uniformly random unit vector (normalised Gaussian, Box-Muller in f64).
fn random_unit(rng: &mut ChaCha8Rng, dim: usize) -> Vec<f64> {
    let uniform = |rng: &mut ChaCha8Rng| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let v: Vec<f64> = (0..dim)
        .map(|_| {
            let (u1, u2) = (1.0 - uniform(rng), uniform(rng));
            (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_is_measured_exactly_in_one_dimension() {
        let a: Vec<f32> = (0..100).map(|i| i as f32).collect();
        let b: Vec<f32> = a.iter().map(|v| v + 0.5).collect();
        let d = sliced_w1(&a, &b, 1, 4, 1).unwrap();
        assert!((d - 0.5).abs() < 1e-12);
        assert_eq!(sliced_w1(&a, &a, 1, 4, 1), Some(0.0));
        assert_eq!(sliced_w1(&a, &b[..10], 1, 4, 1), None);
    }
}
