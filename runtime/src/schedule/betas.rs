//! Beta schedules and the cumulative products `abar_t` (host side, `f64`).
//!
//! Conventions follow diffusers: `linear`, `scaled_linear`, `squaredcos_cap_v2` and `sigmoid`,
//! user-supplied betas, and the zero-terminal-SNR rescale of Lin et al. (2024).

use crate::{Error, Result};
use std::vec::Vec;

/// How the betas are laid out over the training steps.
#[derive(Clone, Debug, PartialEq)]
pub enum BetaSchedule {
    /// `linspace(start, end, T)`.
    Linear {
        /// First beta.
        start: f64,
        /// Last beta.
        end: f64,
    },
    /// `linspace(sqrt(start), sqrt(end), T)^2` (Stable Diffusion's schedule).
    ScaledLinear {
        /// First beta.
        start: f64,
        /// Last beta.
        end: f64,
    },
    /// The cosine schedule of Nichol & Dhariwal: `abar(s) = cos^2((s + 0.008) / 1.008 * pi / 2)`,
    /// `beta_i = min(1 - abar((i + 1) / T) / abar(i / T), 0.999)`.
    SquaredCosCapV2,
    /// `sigmoid(linspace(-6, 6, T)) * (end - start) + start`.
    Sigmoid {
        /// Lowest beta.
        start: f64,
        /// Highest beta.
        end: f64,
    },
    /// Betas given by the user; their number is the number of training steps.
    Custom(Vec<f64>),
}

impl BetaSchedule {
    /// The linear schedule most DDPMs use: 0.0001 to 0.02.
    pub const DDPM_LINEAR: BetaSchedule = BetaSchedule::Linear {
        start: 1e-4,
        end: 0.02,
    };
}

/// A discrete forward process: betas and `abar_t = prod_{s <= t} (1 - beta_s)`, `t = 0..T`.
#[derive(Clone, Debug, PartialEq)]
pub struct NoiseSchedule {
    betas: Vec<f64>,
    alphas_cumprod: Vec<f64>,
}

/// numpy's `linspace(a, b, n)`: `a + i * (b - a) / (n - 1)`, the last point exactly `b`.
pub(crate) fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return std::vec![a];
    }
    let step = (b - a) / (n - 1) as f64;
    (0..n)
        .map(|i| if i + 1 == n { b } else { a + i as f64 * step })
        .collect()
}

fn config(field: &'static str, expected: &'static str) -> Error {
    Error::InvalidConfig { field, expected }
}

impl NoiseSchedule {
    /// Builds the schedule for `train_steps` steps (ignored for [`BetaSchedule::Custom`]).
    pub fn new(kind: &BetaSchedule, train_steps: usize) -> Result<Self> {
        let steps_err = config("train_steps", "at least 1");
        let betas = match kind {
            BetaSchedule::Custom(b) => b.clone(),
            _ if train_steps == 0 => return Err(steps_err),
            BetaSchedule::Linear { start, end } => {
                check_range(*start, *end)?;
                linspace(*start, *end, train_steps)
            }
            BetaSchedule::ScaledLinear { start, end } => {
                check_range(*start, *end)?;
                linspace(start.sqrt(), end.sqrt(), train_steps)
                    .into_iter()
                    .map(|b| b * b)
                    .collect()
            }
            BetaSchedule::Sigmoid { start, end } => {
                check_range(*start, *end)?;
                linspace(-6.0, 6.0, train_steps)
                    .into_iter()
                    .map(|v| 1.0 / (1.0 + (-v).exp()) * (end - start) + start)
                    .collect()
            }
            BetaSchedule::SquaredCosCapV2 => {
                let abar = |s: f64| {
                    let c = ((s + 0.008) / 1.008 * core::f64::consts::FRAC_PI_2).cos();
                    c * c
                };
                let n = train_steps as f64;
                (0..train_steps)
                    .map(|i| (1.0 - abar((i + 1) as f64 / n) / abar(i as f64 / n)).min(0.999))
                    .collect()
            }
        };
        Self::from_betas(betas)
    }

    /// Builds the schedule from explicit betas, each in (0, 1].
    pub fn from_betas(betas: Vec<f64>) -> Result<Self> {
        if betas.is_empty() {
            return Err(config("betas", "at least one beta"));
        }
        if betas.iter().any(|b| !(*b > 0.0 && *b <= 1.0)) {
            return Err(config("betas", "every beta finite and in (0, 1]"));
        }
        let mut acc = 1.0;
        let alphas_cumprod = betas
            .iter()
            .map(|b| {
                acc *= 1.0 - b;
                acc
            })
            .collect();
        Ok(Self {
            betas,
            alphas_cumprod,
        })
    }

    /// Rescales the betas so that the last step has zero signal-to-noise ratio
    /// (`abar_{T-1} = 0`), keeping `abar_0` (Lin et al., "Common Diffusion Noise Schedules and
    /// Sample Steps are Flawed", algorithm 1). Needs at least two training steps.
    pub fn rescale_zero_terminal_snr(self) -> Result<Self> {
        let sqrt_abar: Vec<f64> = self.alphas_cumprod.iter().map(|a| a.sqrt()).collect();
        let (first, last) = match (sqrt_abar.first(), sqrt_abar.last()) {
            (Some(f), Some(l)) if sqrt_abar.len() >= 2 && f > l => (*f, *l),
            _ => return Err(config("train_steps", "at least 2 for a zero-SNR rescale")),
        };
        let abar: Vec<f64> = sqrt_abar
            .iter()
            .map(|s| {
                let r = (s - last) * first / (first - last);
                r * r
            })
            .collect();
        let mut prev = 1.0;
        let betas = abar
            .iter()
            .map(|a| {
                let beta = 1.0 - a / prev;
                prev = *a;
                beta
            })
            .collect();
        Ok(Self {
            betas,
            alphas_cumprod: abar,
        })
    }

    /// Number of training steps `T`.
    pub fn train_steps(&self) -> usize {
        self.betas.len()
    }

    /// The betas.
    pub fn betas(&self) -> &[f64] {
        &self.betas
    }

    /// `abar_t` for `t = 0..T`.
    pub fn alphas_cumprod(&self) -> &[f64] {
        &self.alphas_cumprod
    }
}

fn check_range(start: f64, end: f64) -> Result<()> {
    let ok = |b: f64| b > 0.0 && b < 1.0;
    if ok(start) && ok(end) {
        Ok(())
    } else {
        Err(config("beta_start/beta_end", "finite values in (0, 1)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_matches_closed_form() {
        let s = NoiseSchedule::new(&BetaSchedule::DDPM_LINEAR, 1000).unwrap();
        assert_eq!(s.train_steps(), 1000);
        assert_eq!(s.betas()[0], 1e-4);
        assert_eq!(s.betas()[999], 0.02);
        assert!((s.betas()[500] - (1e-4 + 500.0 * (0.02 - 1e-4) / 999.0)).abs() < 1e-15);
    }

    #[test]
    fn every_schedule_is_decreasing_and_positive() {
        let kinds = [
            BetaSchedule::DDPM_LINEAR,
            BetaSchedule::ScaledLinear {
                start: 0.00085,
                end: 0.012,
            },
            BetaSchedule::SquaredCosCapV2,
            BetaSchedule::Sigmoid {
                start: 1e-4,
                end: 0.02,
            },
        ];
        for k in &kinds {
            for t in [1, 2, 10, 1000] {
                let s = NoiseSchedule::new(k, t).unwrap();
                let a = s.alphas_cumprod();
                assert!(a.windows(2).all(|w| w[1] < w[0]), "{k:?} T={t}");
                assert!(a.iter().all(|v| *v > 0.0 && *v < 1.0), "{k:?} T={t}");
            }
        }
    }

    #[test]
    fn zero_terminal_snr_keeps_first_and_zeroes_last() {
        let s = NoiseSchedule::new(&BetaSchedule::DDPM_LINEAR, 1000).unwrap();
        let a0 = s.alphas_cumprod()[0];
        let z = s.rescale_zero_terminal_snr().unwrap();
        assert!((z.alphas_cumprod()[0] - a0).abs() < 1e-15);
        assert_eq!(z.alphas_cumprod()[999], 0.0);
        assert_eq!(z.betas()[999], 1.0);
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        assert!(NoiseSchedule::new(&BetaSchedule::DDPM_LINEAR, 0).is_err());
        assert!(NoiseSchedule::from_betas(std::vec![0.1, f64::NAN]).is_err());
        assert!(NoiseSchedule::from_betas(std::vec![]).is_err());
        let nan = BetaSchedule::Linear {
            start: f64::NAN,
            end: 0.02,
        };
        assert!(NoiseSchedule::new(&nan, 10).is_err());
        let one = NoiseSchedule::new(&BetaSchedule::DDPM_LINEAR, 1).unwrap();
        assert!(one.rescale_zero_terminal_snr().is_err());
    }
}
