//! Per-step schedule tables: what the device reads at every sampling step.
//!
//! A table is a slice of [`StepRow`] (or [`StepRowF16`] for tight flash). Each row is
//! self-contained: the timestep the network sees, the previous timestep taken from the
//! timestep list, the noise level, and the coefficients of the generic update
//!
//! ```text
//! x_prev = c_xt * x_t + c_x0 * x0_hat + c_eps * eps_hat
//!        + c_hist * x0_hat[-1] + c_hist2 * x0_hat[-2] + c_hist3 * x0_hat[-3] + noise * z
//! ```
//!
//! which covers DDPM, DDIM, DPM-Solver++ (orders 1-3, ODE and SDE), UniPC, Euler, Euler
//! ancestral and Heun, plus the Langevin
//! corrector `x += corr_eps * eps_hat + corr_noise * z` run at the row's own level. Every
//! coefficient is computed on the host in `f64` (see `sampler::plan`, feature `std`) so the device needs no
//! transcendental function.
//!
//! Rows have public fields and `#[repr(C)]`, so a table can be a `const` in firmware source:
//! [`codegen`] writes one.

#[cfg(feature = "std")]
pub mod betas;
#[cfg(feature = "std")]
pub mod codegen;
#[cfg(feature = "std")]
pub mod spacing;

use crate::prediction::PredictionType;
use half::f16;

/// `t_prev` of the last step: the clean sample, `abar_prev = 1`.
pub const T_FINAL: i32 = -1;

/// One sampling step, in `f32`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StepRow {
    /// Training timestep the network is evaluated at.
    pub t: u32,
    /// Timestep reached by this step, or [`T_FINAL`] for the clean sample.
    pub t_prev: i32,
    /// `sqrt(abar_t)`.
    pub alpha: f32,
    /// `sqrt(1 - abar_t)`.
    pub sigma: f32,
    /// Weight of the current sample `x_t`.
    pub c_xt: f32,
    /// Weight of the (clipped) data prediction `x0_hat`.
    pub c_x0: f32,
    /// Weight of the noise prediction `eps_hat` (from the unclipped output).
    pub c_eps: f32,
    /// Weight of the previous step's data prediction (DPM-Solver++ 2M).
    pub c_hist: f32,
    /// Standard deviation of the fresh noise added by the predictor.
    pub noise: f32,
    /// Langevin corrector: weight of `eps_hat` (`-step_size / sigma_t`).
    pub corr_eps: f32,
    /// Langevin corrector: noise scale (`sqrt(2 step_size)`).
    pub corr_noise: f32,
    /// Weight of the data prediction two steps back (DPM-Solver++ 3M, UniPC).
    pub c_hist2: f32,
    /// Weight of the data prediction three steps back (UniPC 3).
    pub c_hist3: f32,
}

/// Data predictions of earlier steps a step table may weigh ([`StepRow::c_hist`],
/// [`StepRow::c_hist2`], [`StepRow::c_hist3`]).
pub const MAX_HISTORY: usize = 3;

/// One sampling step with the coefficients stored as IEEE half floats (22 bytes of
/// coefficients instead of 44). Half precision keeps about 3 significant digits; use it only
/// when flash is tighter than accuracy.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct StepRowF16 {
    /// Training timestep the network is evaluated at.
    pub t: u32,
    /// Timestep reached by this step, or [`T_FINAL`].
    pub t_prev: i32,
    /// The coefficients of [`StepRow`] in field order, from `alpha` to `c_hist3`.
    pub coeffs: [f16; StepRow::COEFFS],
}

impl StepRow {
    /// Number of coefficients.
    pub const COEFFS: usize = 11;

    /// The coefficients in field order.
    pub fn coeffs(&self) -> [f32; Self::COEFFS] {
        [
            self.alpha,
            self.sigma,
            self.c_xt,
            self.c_x0,
            self.c_eps,
            self.c_hist,
            self.noise,
            self.corr_eps,
            self.corr_noise,
            self.c_hist2,
            self.c_hist3,
        ]
    }

    /// How many earlier data predictions the row weighs (0 to [`MAX_HISTORY`]).
    pub fn history_slots(&self) -> usize {
        [self.c_hist, self.c_hist2, self.c_hist3]
            .iter()
            .rposition(|c| *c != 0.0)
            .map_or(0, |k| k + 1)
    }

    /// Names of the coefficients, in the order of [`StepRow::coeffs`].
    pub const COEFF_NAMES: [&'static str; Self::COEFFS] = [
        "alpha",
        "sigma",
        "c_xt",
        "c_x0",
        "c_eps",
        "c_hist",
        "noise",
        "corr_eps",
        "corr_noise",
        "c_hist2",
        "c_hist3",
    ];

    /// Builds a row from `t`, `t_prev` and coefficients in the order of [`StepRow::coeffs`].
    pub fn from_coeffs(t: u32, t_prev: i32, c: [f32; Self::COEFFS]) -> Self {
        let [
            alpha,
            sigma,
            c_xt,
            c_x0,
            c_eps,
            c_hist,
            noise,
            corr_eps,
            corr_noise,
            c_hist2,
            c_hist3,
        ] = c;
        Self {
            t,
            t_prev,
            alpha,
            sigma,
            c_xt,
            c_x0,
            c_eps,
            c_hist,
            noise,
            corr_eps,
            corr_noise,
            c_hist2,
            c_hist3,
        }
    }

    /// Rounds the coefficients to half precision.
    pub fn to_f16(&self) -> StepRowF16 {
        StepRowF16 {
            t: self.t,
            t_prev: self.t_prev,
            coeffs: self.coeffs().map(f16::from_f32),
        }
    }

    /// Checks that the row can drive a sampler step: finite coefficients, a positive noise
    /// level and non-negative noise scales.
    pub fn validate(&self, step: usize) -> crate::Result<()> {
        let bad = |field, reason| crate::Error::BadStepRow {
            step,
            field,
            reason,
        };
        for (value, name) in self.coeffs().iter().zip(Self::COEFF_NAMES) {
            if !value.is_finite() {
                return Err(bad(name, "not finite"));
            }
        }
        if !(self.alpha >= 0.0 && self.alpha <= 1.0) {
            return Err(bad("alpha", "must be in [0, 1]"));
        }
        if !(self.sigma > 0.0 && self.sigma <= 1.0) {
            return Err(bad("sigma", "must be in (0, 1]"));
        }
        if self.noise < 0.0 || self.corr_noise < 0.0 {
            return Err(bad("noise", "must not be negative"));
        }
        Ok(())
    }

    /// Checks that the row's noise level lies on the path `prediction` needs: the
    /// variance-preserving one (`alpha^2 + sigma^2 = 1`, `alpha > 0`, so every conversion is
    /// defined) or, for the flow velocity, the straight one (`alpha + sigma = 1`). The
    /// tolerance, 1e-2, admits half-precision tables; the two paths differ by up to 0.41 at
    /// mid noise, so a table of the other family fails on its middle rows.
    pub fn validate_path(&self, step: usize, prediction: PredictionType) -> crate::Result<()> {
        let bad = |reason| crate::Error::BadStepRow {
            step,
            field: "alpha",
            reason,
        };
        if prediction.is_flow() {
            if (self.alpha + self.sigma - 1.0).abs() > 1e-2 {
                return Err(bad(
                    "off the flow path alpha = 1 - sigma a flow-velocity model needs",
                ));
            }
        } else if !(self.alpha > 0.0
            && (self.alpha * self.alpha + self.sigma * self.sigma - 1.0).abs() <= 1e-2)
        {
            return Err(bad(
                "off the variance-preserving path alpha^2 + sigma^2 = 1, alpha > 0 that \
                 epsilon, v and x0 models need (a flow-matching table?)",
            ));
        }
        Ok(())
    }
}

impl From<&StepRowF16> for StepRow {
    fn from(r: &StepRowF16) -> Self {
        StepRow::from_coeffs(r.t, r.t_prev, r.coeffs.map(f16::to_f32))
    }
}

/// Read access to a step table, whatever its storage precision.
pub trait StepTable {
    /// Number of sampling steps.
    fn steps(&self) -> usize;
    /// Row `i`, widened to `f32`, or `None` past the end.
    fn row(&self, i: usize) -> Option<StepRow>;
}

impl StepTable for [StepRow] {
    fn steps(&self) -> usize {
        self.len()
    }
    fn row(&self, i: usize) -> Option<StepRow> {
        self.get(i).copied()
    }
}

impl StepTable for [StepRowF16] {
    fn steps(&self) -> usize {
        self.len()
    }
    fn row(&self, i: usize) -> Option<StepRow> {
        self.get(i).map(StepRow::from)
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for StepRowF16 {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{}", StepRow::from(self))
    }
}
