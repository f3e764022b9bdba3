//! Conformance with diffusers: its scheduler tests' full loops, replayed on the runtime's
//! sampler.
//!
//! A case names a diffusers scheduler class, its config, the number of steps and the step
//! kwargs, and records what diffusers computed: the timesteps and `sum|x|`, `mean|x|` after
//! the loop. The loop runs diffusers' test dummy `eps = x * t / (t + 1)` on the 768 values
//! `k / 768` (`dummy_sample_deter`), scaled by `init_noise_sigma`; see
//! `scripts/make-diffusers-cases.py`, which writes such cases with diffusers itself.

use super::config::{from_class, parse_json};
use crate::cli::sampler_args::SamplerArgs;
use crate::error::Error;
use edgediff_runtime::noise::NoiseSource;
use edgediff_runtime::sampler::plan::{FinalSigmas, Plan};
use edgediff_runtime::sampler::{Sampler, SamplerConfig};
use edgediff_runtime::{Denoiser, prediction::PredictionType};
use serde_json::{Map, Value};
use std::path::Path;

/// Elements of diffusers' `dummy_sample_deter`.
pub const SAMPLE_LEN: usize = 768;

/// Samples in `dummy_sample_deter` (its shape is `[4, 3, 8, 8]`, built from the values
/// `k / 768` laid out as `[3, 8, 8, 4]`: sample `b` holds the `k` with `k % 4 == b`).
pub const BATCH: usize = 4;

/// The flat index `k` in diffusers' `dummy_sample_deter` construction of element `p` of a
/// batch stored sample after sample (`p = b * 192 + i`): `k = i * 4 + b`.
fn diffusers_index(p: usize) -> usize {
    let per = SAMPLE_LEN / BATCH;
    (p % per) * BATCH + p / per
}

/// How close timesteps must be (diffusers' Euler keeps fractional ones).
pub const TIMESTEP_TOL: f64 = 1e-3;

/// Absolute slack on `mean|x|` on top of the relative tolerance, for results that are zero up
/// to `f32` rounding (an x0-predicting dummy ends at `x - x`: diffusers leaves 1e-8, we 0).
pub const ABS_TOL: f64 = 1e-6;

/// One case.
#[derive(Clone, Debug)]
pub struct Case {
    /// Its name.
    pub name: String,
    /// The diffusers scheduler class.
    pub class: String,
    /// The scheduler config.
    pub config: Map<String, Value>,
    /// Sampling steps.
    pub steps: usize,
    /// DDIM's `eta` from the step kwargs.
    pub eta: f64,
    /// The timesteps diffusers visited.
    pub timesteps: Vec<f64>,
    /// diffusers' `sum|x|` after the loop.
    pub abs_sum: f64,
    /// diffusers' `mean|x|` after the loop.
    pub abs_mean: f64,
    /// Relative tolerance on `mean|x|`.
    pub rel_tol: f64,
    /// The replayable noise pattern the case was computed with, if any.
    pub noise: Option<String>,
    /// Factor on the dummy sample (edgediff's extension, default 1: thresholding cases scale
    /// it so that the threshold acts).
    pub sample_scale: f64,
}

/// What a case gave.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Within tolerance, timesteps equal.
    pub ok: bool,
    /// Our `mean|x|` (NaN when the case could not run).
    pub abs_mean: f64,
    /// Our `sum|x|`.
    pub abs_sum: f64,
    /// Our timesteps equal diffusers' within [`TIMESTEP_TOL`].
    pub timesteps_equal: bool,
    /// Largest timestep difference.
    pub max_timestep_diff: f64,
    /// `|ours - theirs| / theirs` of `mean|x|`.
    pub rel_diff: f64,
    /// Why the case could not run, if it could not.
    pub error: Option<String>,
}

/// Reads a case file: `{"cases": [...]}`; unknown keys are ignored.
pub fn read_cases(path: &Path) -> Result<Vec<Case>, Error> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let doc = parse_json(&text, &file)?;
    let cases = doc
        .get("cases")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Input(format!("{file}: expected {{\"cases\": [...]}}")))?;
    cases
        .iter()
        .enumerate()
        .map(|(i, c)| case(c, &format!("{file}: case {i}")))
        .collect()
}

fn case(c: &Value, at: &str) -> Result<Case, Error> {
    let bad = |what: &str| Error::Input(format!("{at}: {what}"));
    let name = c
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("(unnamed)")
        .to_string();
    let at = format!("{at} ({name})");
    let bad_named = |what: &str| Error::Input(format!("{at}: {what}"));
    let num = |key: &str| {
        c.get(key)
            .and_then(Value::as_f64)
            .ok_or_else(|| bad_named(&format!("`{key}` must be a number")))
    };
    let class = c
        .get("scheduler")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("`scheduler` must name a diffusers class"))?
        .to_string();
    let config = match c.get("config") {
        None => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(bad_named("`config` must be an object")),
    };
    let steps = num("steps")?;
    if !(steps >= 1.0 && steps.fract() == 0.0) {
        return Err(bad_named("`steps` must be a positive integer"));
    }
    let timesteps = c
        .get("timesteps")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(Value::as_f64).collect::<Option<Vec<_>>>())
        .ok_or_else(|| bad_named("`timesteps` must be a list of numbers"))?;
    let eta = c
        .get("step_kwargs")
        .and_then(|k| k.get("eta"))
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    Ok(Case {
        name,
        class,
        config,
        steps: steps as usize,
        eta,
        timesteps,
        abs_sum: num("abs_sum")?,
        abs_mean: num("abs_mean")?,
        rel_tol: c.get("rel_tol").and_then(Value::as_f64).unwrap_or(1e-4),
        noise: c.get("noise").and_then(Value::as_str).map(str::to_string),
        sample_scale: c.get("sample_scale").and_then(Value::as_f64).unwrap_or(1.0),
    })
}

/// diffusers' `dummy_sample_deter`, flat: the values `k / 768`, `k = 0..768`.
pub fn dummy_sample() -> Vec<f32> {
    (0..SAMPLE_LEN)
        .map(|k| k as f32 / SAMPLE_LEN as f32)
        .collect()
}

/// diffusers' scheduler-test dummy model, `eps = x * t / (t + 1)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct DummyModel;

impl Denoiser for DummyModel {
    fn eval(
        &mut self,
        x: &[f32],
        t: u32,
        _: usize,
        _: &[u16],
        out: &mut [f32],
    ) -> edgediff_runtime::Result<()> {
        let t = t as f32;
        for (o, v) in out.iter_mut().zip(x) {
            *o = v * t / (t + 1.0);
        }
        Ok(())
    }
}

/// The `uniform-hash` pattern of `scripts/make-diffusers-cases.py`: value `m` is
/// `(u - 0.5) sqrt(12)`, `u = ((m * 2654435761) mod 2^32) / 2^32`, in `f64`, rounded to `f32`;
/// drawn in the order of our batch layout (see `diffusers_index`).
#[derive(Clone, Debug, Default)]
pub struct HashNoise {
    m: u64,
}

impl NoiseSource for HashNoise {
    fn next_normal(&mut self) -> edgediff_runtime::Result<f32> {
        // Draw d of element p of our layout is value d * 768 + k(p) of the pattern.
        let n = SAMPLE_LEN as u64;
        let m = self.m / n * n + diffusers_index((self.m % n) as usize) as u64;
        let u = (m.wrapping_mul(2_654_435_761) % (1 << 32)) as f64 / 4_294_967_296.0;
        self.m += 1;
        Ok(((u - 0.5) * 12f64.sqrt()) as f32)
    }
}

/// Draws nothing: for deterministic cases (a draw would mean the case is stochastic).
struct NoNoise;

impl NoiseSource for NoNoise {
    fn next_normal(&mut self) -> edgediff_runtime::Result<f32> {
        Err(edgediff_runtime::Error::InvalidConfig {
            field: "noise",
            expected: "a replayable noise pattern for a stochastic case (\"noise\": \"uniform-hash\")",
        })
    }
}

/// The sampler options a case describes.
pub fn sampler_args(case: &Case) -> Result<SamplerArgs, Error> {
    let file = format!("case {}", case.name);
    let mut args = from_class(&case.class, &case.config, &file)?.args;
    args.steps = Some(case.steps);
    args.eta = Some(case.eta);
    Ok(args)
}

/// Runs one case; a case that cannot run is an outcome with its error, not an `Err`.
pub fn run(case: &Case) -> Outcome {
    match replay(case) {
        Ok((x, ts)) => {
            let abs_sum: f64 = x.iter().map(|v| f64::from(v.abs())).sum();
            let abs_mean = abs_sum / x.len() as f64;
            let max_timestep_diff = if ts.len() == case.timesteps.len() {
                ts.iter()
                    .zip(&case.timesteps)
                    .map(|(a, b)| (f64::from(*a) - b).abs())
                    .fold(0.0, f64::max)
            } else {
                f64::INFINITY
            };
            let rel_diff = (abs_mean - case.abs_mean).abs() / case.abs_mean.abs().max(1e-12);
            let timesteps_equal = max_timestep_diff <= TIMESTEP_TOL;
            Outcome {
                ok: timesteps_equal
                    && (abs_mean - case.abs_mean).abs()
                        <= case.rel_tol * case.abs_mean.abs() + ABS_TOL,
                abs_mean,
                abs_sum,
                timesteps_equal,
                max_timestep_diff,
                rel_diff,
                error: None,
            }
        }
        Err(e) => Outcome {
            ok: false,
            abs_mean: f64::NAN,
            abs_sum: f64::NAN,
            timesteps_equal: false,
            max_timestep_diff: f64::NAN,
            rel_diff: f64::NAN,
            error: Some(e.to_string()),
        },
    }
}

/// Whether the class samples in the variance-exploding coordinates `x / alpha` (Karras et al.),
/// where diffusers' `init_noise_sigma` and returned samples live.
fn variance_exploding(class: &str) -> bool {
    matches!(
        class,
        "EulerDiscreteScheduler" | "EulerAncestralDiscreteScheduler" | "HeunDiscreteScheduler"
    )
}

fn replay(case: &Case) -> Result<(Vec<f32>, Vec<u32>), Error> {
    let spec = sampler_args(case)?.resolve()?;
    let plan: Plan = spec.plan()?;
    let first = plan
        .rows
        .first()
        .ok_or(Error::Runtime(edgediff_runtime::Error::EmptySchedule))?;
    // diffusers starts from `init_noise_sigma * sample` in its own coordinates; the runtime
    // samples `x_t = alpha_t * (x / alpha)` and ends at `alpha_end * (x / alpha)`.
    let mut scale = case.sample_scale;
    let mut end_alpha = 1.0f64;
    if variance_exploding(&case.class) {
        let (alpha, sigma) = (f64::from(first.alpha), f64::from(first.sigma));
        let s_max = sigma / alpha;
        let trailing_or_linspace = case
            .config
            .get("timestep_spacing")
            .and_then(Value::as_str)
            .is_none_or(|s| s != "leading");
        let init = if trailing_or_linspace {
            s_max
        } else {
            (s_max * s_max + 1.0).sqrt()
        };
        scale *= init * alpha;
        if spec.config.final_sigmas == FinalSigmas::SigmaMin {
            end_alpha = spec.schedule.alphas_cumprod()[0].sqrt();
        }
    }
    // The runtime's batch is samples back to back: element p of our buffer is element
    // `diffusers_index(p)` of diffusers' flat sample (and of its noise draws).
    let flat = dummy_sample();
    let mut x: Vec<f32> = (0..SAMPLE_LEN).map(|p| flat[diffusers_index(p)]).collect();
    if scale != 1.0 {
        for v in &mut x {
            *v = (f64::from(*v) * scale) as f32;
        }
    }
    let cfg = SamplerConfig {
        prediction: spec.prediction.unwrap_or(PredictionType::Epsilon),
        clip_sample: spec.clip,
        corrector_steps: plan.corrector_steps,
        thresholding: plan
            .thresholding
            .map(|t| t.for_samples_of(SAMPLE_LEN / BATCH)),
    };
    let sampler = Sampler::new(plan.rows.as_slice(), cfg, SAMPLE_LEN)?;
    let sizes = sampler.state_sizes();
    let mut out = vec![0.0; sizes.model_output];
    let mut hist = vec![0.0; sizes.history];
    let mut state = sampler.state(&mut x, &mut out, &mut hist)?;
    let stochastic = plan
        .rows
        .iter()
        .any(|r| r.noise > 0.0 || r.corr_noise > 0.0);
    match case.noise.as_deref() {
        Some("uniform-hash") => sampler.run(
            0,
            &mut state,
            &mut DummyModel,
            &[],
            &mut HashNoise::default(),
        )?,
        Some(other) => {
            return Err(Error::Input(format!(
                "noise pattern `{other}` is unknown (known: uniform-hash)"
            )));
        }
        None if stochastic => {
            return Err(Error::Input(
                "a stochastic case needs a replayable noise pattern (\"noise\": \"uniform-hash\"); \
                 diffusers' torch generator cannot be replayed"
                    .into(),
            ));
        }
        None => sampler.run(0, &mut state, &mut DummyModel, &[], &mut NoNoise)?,
    }
    let x = if end_alpha != 1.0 {
        x.iter()
            .map(|v| (f64::from(*v) / end_alpha) as f32)
            .collect()
    } else {
        x
    };
    let ts = plan.rows.iter().map(|r| r.t).collect();
    Ok((x, ts))
}
