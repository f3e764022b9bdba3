//! The equivalent parameterizations of a diffusion model and the conversions between them.
//!
//! With `x_t = alpha_t x_0 + sigma_t eps`, `alpha_t = sqrt(abar_t)`, `sigma_t = sqrt(1 - abar_t)`:
//! - noise: `x0 = (x_t - sigma_t eps) / alpha_t`;
//! - data (x0): `eps = (x_t - alpha_t x0) / sigma_t`;
//! - v: `v = alpha_t eps - sigma_t x0`, so `x0 = alpha_t x_t - sigma_t v`, `eps = sigma_t x_t + alpha_t v`;
//! - score, by Tweedie's formula: `grad log p(x_t) = -eps / sigma_t`.
//!
//! Flow matching (rectified flow) uses the straight path `x_t = (1 - sigma_t) x_0 + sigma_t eps`
//! instead (`alpha_t = 1 - sigma_t`) and a network that predicts the velocity
//! `v = eps - x0`: `x0 = x_t - sigma_t v`, `eps = x_t + alpha_t v`.
//!
//! All functions are plain `f32` arithmetic. Callers guarantee `alpha_t > 0` and `sigma_t > 0`
//! for the first three (the flow velocity needs neither;
//! [`crate::sampler::Sampler::new`] checks the step table once).

/// What the network predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PredictionType {
    /// The noise `eps` (diffusers' `epsilon`).
    #[default]
    Epsilon,
    /// The clean sample `x0` (diffusers' `sample`).
    Sample,
    /// The velocity `v = alpha_t eps - sigma_t x0` (diffusers' `v_prediction`).
    VPrediction,
    /// The flow-matching velocity `v = eps - x0` on `x_t = (1 - sigma_t) x0 + sigma_t eps`
    /// (diffusers' `FlowMatchEulerDiscreteScheduler`).
    FlowVelocity,
}

impl PredictionType {
    /// Whether the model lives on the flow-matching path `alpha_t = 1 - sigma_t` (otherwise on
    /// the variance-preserving one, `alpha_t^2 + sigma_t^2 = 1`).
    pub const fn is_flow(self) -> bool {
        matches!(self, PredictionType::FlowVelocity)
    }
}

impl PredictionType {
    /// Converts one network output element into `(x0_hat, eps_hat)` at noise level
    /// `(alpha, sigma)` for the current sample element `x`.
    #[inline]
    pub fn to_x0_eps(self, out: f32, x: f32, alpha: f32, sigma: f32) -> (f32, f32) {
        match self {
            PredictionType::Epsilon => (x0_from_eps(x, out, alpha, sigma), out),
            PredictionType::Sample => (out, eps_from_x0(x, out, alpha, sigma)),
            PredictionType::VPrediction => (alpha * x - sigma * out, sigma * x + alpha * out),
            PredictionType::FlowVelocity => (x - sigma * out, x + alpha * out),
        }
    }

    /// Converts `(x0_hat, eps_hat)` back into what a network of this type would output.
    #[inline]
    pub fn from_x0_eps(self, x0: f32, eps: f32, alpha: f32, sigma: f32) -> f32 {
        match self {
            PredictionType::Epsilon => eps,
            PredictionType::Sample => x0,
            PredictionType::VPrediction => alpha * eps - sigma * x0,
            PredictionType::FlowVelocity => eps - x0,
        }
    }
}

/// `x0 = (x_t - sigma_t eps) / alpha_t`.
#[inline]
pub fn x0_from_eps(x: f32, eps: f32, alpha: f32, sigma: f32) -> f32 {
    (x - sigma * eps) / alpha
}

/// `eps = (x_t - alpha_t x0) / sigma_t`.
#[inline]
pub fn eps_from_x0(x: f32, x0: f32, alpha: f32, sigma: f32) -> f32 {
    (x - alpha * x0) / sigma
}

/// Classifier-free guidance: `uncond + scale * (cond - uncond)`, in whatever
/// parameterization the network predicts.
#[inline]
pub fn guide(cond: f32, uncond: f32, scale: f32) -> f32 {
    uncond + scale * (cond - uncond)
}

/// Whether an evaluation with `label` needs a second, unconditional one: the model is
/// conditional, the label is a real class (not the null label `classes`) and `scale != 1`.
#[inline]
pub fn needs_guidance(classes: u16, label: u16, scale: f32) -> bool {
    classes > 0 && label < classes && scale != 1.0
}

/// Tweedie's formula: the score `grad log p(x_t) = -eps / sigma_t`.
#[inline]
pub fn score_from_eps(eps: f32, sigma: f32) -> f32 {
    -eps / sigma
}

/// The inverse of [`score_from_eps`]: `eps = -sigma_t * score`.
#[inline]
pub fn eps_from_score(score: f32, sigma: f32) -> f32 {
    -sigma * score
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip() {
        let (alpha, sigma) = (0.6f32, 0.8f32);
        let (x0, eps) = (0.3f32, -1.1f32);
        let x = alpha * x0 + sigma * eps;
        for p in [
            PredictionType::Epsilon,
            PredictionType::Sample,
            PredictionType::VPrediction,
        ] {
            let out = p.from_x0_eps(x0, eps, alpha, sigma);
            let (x0b, epsb) = p.to_x0_eps(out, x, alpha, sigma);
            assert!((x0b - x0).abs() < 1e-6, "{p:?} x0");
            assert!((epsb - eps).abs() < 1e-6, "{p:?} eps");
        }
        let s = score_from_eps(eps, sigma);
        assert!((eps_from_score(s, sigma) - eps).abs() < 1e-6);
        // Tweedie: x + sigma^2 * score = alpha * x0 (the posterior mean of alpha x0).
        assert!((x + sigma * sigma * s - alpha * x0).abs() < 1e-6);
    }
}
