//! Data: 2-D toy distributions, the UCI digits, ECG-like 1-D signals, and the exact denoiser of a Gaussian mixture.
//!
//! [`GaussianMixture`] is a data set whose every noised marginal is known in closed form, so
//! [`MixtureDenoiser`] is the exact (Bayes-optimal) noise predictor. Samplers can be checked
//! against it without any trained network: all error comes from the sampler.

pub mod digits;
pub mod ecg;
pub mod toy2d;

pub use toy2d::Toy2d;

use edgediff_runtime::noise::{GaussianNoise, NoiseSource};
use edgediff_runtime::prediction::PredictionType;
use edgediff_runtime::sampler::plan::usable_abar;
use edgediff_runtime::schedule::betas::NoiseSchedule;
use edgediff_runtime::{Denoiser, Error, Result};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// An equal-weight mixture of isotropic 2-D Gaussians with a common standard deviation.
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianMixture {
    means: Vec<[f64; 2]>,
    std: f64,
}

impl GaussianMixture {
    /// Eight Gaussians on a circle of radius 2, standard deviation 0.1.
    pub fn eight_gaussians() -> Self {
        let means = (0..8)
            .map(|k| {
                let a = k as f64 * std::f64::consts::FRAC_PI_4;
                [2.0 * a.cos(), 2.0 * a.sin()]
            })
            .collect();
        Self { means, std: 0.1 }
    }

    /// `n` points, interleaved `x, y`, from a seeded stream.
    pub fn sample(&self, n: usize, seed: u64) -> Vec<f32> {
        let mut noise = GaussianNoise::new(seed);
        let mut pick = ChaCha8Rng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
        let k = self.means.len() as u64;
        let mut out = Vec::with_capacity(2 * n);
        for _ in 0..n {
            // Modulo bias is below 2^-60 for a handful of components.
            let m = self.means[(pick.next_u64() % k) as usize];
            for mj in m {
                let z = noise.next_normal().unwrap_or(0.0) as f64;
                out.push((mj + self.std * z) as f32);
            }
        }
        out
    }

    /// Root-mean-square distance of `points` (interleaved `x, y`) to their nearest component
    /// mean, divided by its expected value `sqrt(2) * std`. About 1 for samples of the mixture;
    /// below 1 when a sampler collapses the components, above when it leaves noise.
    pub fn width_ratio(&self, points: &[f32]) -> f64 {
        let n = points.len() / 2;
        let sum: f64 = points
            .chunks_exact(2)
            .map(|p| {
                self.means
                    .iter()
                    .map(|m| (p[0] as f64 - m[0]).powi(2) + (p[1] as f64 - m[1]).powi(2))
                    .fold(f64::INFINITY, f64::min)
            })
            .sum();
        (sum / n as f64).sqrt() / (std::f64::consts::SQRT_2 * self.std)
    }

    /// The exact noise predictor of this mixture under `schedule`.
    pub fn denoiser(&self, schedule: &NoiseSchedule) -> MixtureDenoiser<'_> {
        MixtureDenoiser {
            mixture: self,
            abar: schedule.alphas_cumprod().to_vec(),
            prediction: PredictionType::Epsilon,
        }
    }
}

/// The exact denoiser of a [`GaussianMixture`].
///
/// At level `t` the marginal is `sum_k N(alpha m_k, v I) / K` with `v = alpha^2 s^2 + sigma^2`,
/// so the score is `-sum_k r_k(x) (x - alpha m_k) / v` with softmax responsibilities `r_k`,
/// and `eps = -sigma * score`.
#[derive(Clone, Debug)]
pub struct MixtureDenoiser<'a> {
    mixture: &'a GaussianMixture,
    abar: Vec<f64>,
    /// Which parameterization to output (to exercise every conversion).
    pub prediction: PredictionType,
}

impl MixtureDenoiser<'_> {
    /// The exact `(x0_hat, eps_hat)` at `x` for level `t`.
    pub fn predict(&self, x: [f64; 2], t: u32) -> Result<([f64; 2], [f64; 2])> {
        let abar = usable_abar(*self.abar.get(t as usize).ok_or(Error::InvalidConfig {
            field: "t",
            expected: "a training timestep of the schedule",
        })?);
        let (alpha, sigma) = (abar.sqrt(), (1.0 - abar).sqrt());
        let s = self.mixture.std;
        let v = alpha * alpha * s * s + sigma * sigma;
        let d2: Vec<f64> = self
            .mixture
            .means
            .iter()
            .map(|m| {
                let (dx, dy) = (x[0] - alpha * m[0], x[1] - alpha * m[1]);
                (dx * dx + dy * dy) / (2.0 * v)
            })
            .collect();
        let min = d2.iter().copied().fold(f64::INFINITY, f64::min);
        let w: Vec<f64> = d2.iter().map(|d| (min - d).exp()).collect();
        let total: f64 = w.iter().sum();
        let mut score = [0.0; 2];
        for (wk, m) in w.iter().zip(&self.mixture.means) {
            for j in 0..2 {
                score[j] -= wk / total * (x[j] - alpha * m[j]) / v;
            }
        }
        let eps = score.map(|s| -sigma * s);
        let x0 = [0, 1].map(|j| (x[j] - sigma * eps[j]) / alpha);
        Ok((x0, eps))
    }
}

impl Denoiser for MixtureDenoiser<'_> {
    fn eval(
        &mut self,
        x: &[f32],
        t: u32,
        _step: usize,
        _labels: &[u16],
        out: &mut [f32],
    ) -> Result<()> {
        if !x.len().is_multiple_of(2) || out.len() != x.len() {
            return Err(Error::ShapeMismatch {
                dim: 2,
                got: x.len(),
            });
        }
        let abar = usable_abar(self.abar.get(t as usize).copied().unwrap_or(1.0));
        let (alpha, sigma) = (abar.sqrt() as f32, (1.0 - abar).sqrt() as f32);
        for (xp, op) in x.chunks_exact(2).zip(out.chunks_exact_mut(2)) {
            let (x0, eps) = self.predict([xp[0] as f64, xp[1] as f64], t)?;
            for j in 0..2 {
                op[j] = self
                    .prediction
                    .from_x0_eps(x0[j] as f32, eps[j] as f32, alpha, sigma);
            }
        }
        Ok(())
    }
}
