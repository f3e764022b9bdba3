//! The variational bound of a 2-D (or any continuous) diffusion model, in nats per dimension
//! (Ho et al. 2020, eq. 5, with the noise parameterization; notes in Luo 2022). Networks that
//! predict x0 or v are converted to their noise prediction first.
//!
//! `-log p(x0) <= L_T + sum_{t=1}^{T-1} L_t + L_0` with, per data point,
//! - `L_T = KL(N(sqrt(abar_T) x0, 1 - abar_T) || N(0, 1))` in closed form;
//! - `L_t = beta_t^2 / (2 var_t (1 - abar_t) alpha_t) ||eps - eps_hat(x_t, t)||^2`, the
//!   posterior variance `var_t = (1 - abar_{t-1}) / (1 - abar_t) beta_t`, estimated without
//!   bias by sampling `t` uniformly and scaling by `T - 1`;
//! - `L_0 = -log N(x0; mu_hat(x_1, 1), beta_1)` (a Gaussian decoder at the first step; the
//!   data are continuous, so no discretisation).
//!
//! Timesteps are 0-based here: index 0 is the first noising step.

use edgediff_runtime::Denoiser;
use edgediff_runtime::noise::{GaussianNoise, NoiseSource};
use edgediff_runtime::prediction::PredictionType;
use edgediff_runtime::schedule::betas::NoiseSchedule;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// The bound and its parts, in nats per dimension.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Elbo {
    /// The whole bound (an upper bound on `-log p(x0)` per dimension).
    pub total: f64,
    /// Prior term.
    pub prior: f64,
    /// Denoising terms.
    pub diffusion: f64,
    /// Reconstruction term.
    pub reconstruction: f64,
}

/// How the bound is estimated.
#[derive(Clone, Copy, Debug)]
pub struct ElboConfig<'a> {
    /// The forward process the model was trained with.
    pub schedule: &'a NoiseSchedule,
    /// Timesteps drawn per data point.
    pub draws: usize,
    /// Seed of the timesteps and the noise.
    pub seed: u64,
}

/// Estimates the bound over `data` (rows of `dim`). The denoiser (predicting `prediction`) is
/// called with timestep `t` and step row `step_of(t)`, so a pack needs a row for every
/// training step.
pub fn elbo(
    den: &mut impl Denoiser,
    prediction: PredictionType,
    step_of: &dyn Fn(usize) -> usize,
    data: &[f32],
    dim: usize,
    cfg: &ElboConfig<'_>,
) -> edgediff_runtime::Result<Elbo> {
    let ElboConfig {
        schedule,
        draws,
        seed,
    } = *cfg;
    let abar = schedule.alphas_cumprod();
    let betas = schedule.betas();
    let t_max = abar.len();
    let n = data.len() / dim;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut noise = GaussianNoise::new(seed ^ 0xe1b0);
    let (mut prior, mut diffusion, mut recon) = (0.0, 0.0, 0.0);
    let mut out = vec![0.0f32; dim];
    let mut xt = vec![0.0f32; dim];
    let mut eps = vec![0.0f32; dim];
    for x0 in data.chunks_exact(dim) {
        // Prior: KL(N(m, v) || N(0, 1)) = (v + m^2 - 1 - ln v) / 2 per dimension.
        let (a_t, v_t) = (abar[t_max - 1].sqrt(), 1.0 - abar[t_max - 1]);
        prior += x0
            .iter()
            .map(|x| (v_t + (a_t * f64::from(*x)).powi(2) - 1.0 - v_t.ln()) / 2.0)
            .sum::<f64>();
        // Denoising terms, t uniform in 1..T-1.
        for _ in 0..draws {
            let t = 1 + (rng.next_u64() % (t_max as u64 - 1)) as usize;
            let (a, s) = (abar[t].sqrt() as f32, (1.0 - abar[t]).sqrt() as f32);
            for j in 0..dim {
                eps[j] = noise.next_normal()?;
                xt[j] = a * x0[j] + s * eps[j];
            }
            den.eval(&xt, t as u32, step_of(t), &[], &mut out)?;
            to_eps(prediction, &mut out, &xt, a, s);
            let err: f64 = eps
                .iter()
                .zip(&out)
                .map(|(e, o)| f64::from(e - o).powi(2))
                .sum();
            let beta = betas[t];
            let var = (1.0 - abar[t - 1]) / (1.0 - abar[t]) * beta;
            let w = beta * beta / (2.0 * var * (1.0 - abar[t]) * (1.0 - beta));
            diffusion += (t_max - 1) as f64 * w * err / draws as f64;
        }
        // Reconstruction at the first step: x_1 -> mu = (x_1 - beta_0 / sqrt(1 - abar_0) eps) / sqrt(alpha_0).
        let (a, s) = (abar[0].sqrt() as f32, (1.0 - abar[0]).sqrt() as f32);
        for j in 0..dim {
            eps[j] = noise.next_normal()?;
            xt[j] = a * x0[j] + s * eps[j];
        }
        den.eval(&xt, 0, step_of(0), &[], &mut out)?;
        to_eps(prediction, &mut out, &xt, a, s);
        let beta = betas[0];
        for j in 0..dim {
            let mu = (f64::from(xt[j]) - beta / (1.0 - abar[0]).sqrt() * f64::from(out[j]))
                / (1.0 - beta).sqrt();
            recon += 0.5 * (2.0 * std::f64::consts::PI * beta).ln()
                + (f64::from(x0[j]) - mu).powi(2) / (2.0 * beta);
        }
    }
    let per = (n * dim) as f64;
    let (prior, diffusion, reconstruction) = (prior / per, diffusion / per, recon / per);
    Ok(Elbo {
        total: prior + diffusion + reconstruction,
        prior,
        diffusion,
        reconstruction,
    })
}

/// Replaces the network outputs `out` at `x` (`alpha`, `sigma`) by their noise prediction.
fn to_eps(prediction: PredictionType, out: &mut [f32], x: &[f32], alpha: f32, sigma: f32) {
    for (o, x) in out.iter_mut().zip(x) {
        *o = prediction.to_x0_eps(*o, *x, alpha, sigma).1;
    }
}
