//! diffusers' `scheduler_config.json`, mapped to sampler options.
//!
//! Every key is accounted for: a key that sets something here becomes the matching option
//! (class defaults fill in missing ones, as diffusers' constructors do), a key that does not
//! change the sampled values is listed as ignored, and a key (or a value) that would change
//! them in a way the runtime does not reproduce is an error naming it.

use crate::cli::sampler_args::{BetaName, SamplerArgs, SamplerName, SpacingName};
use crate::error::Error;
use edgediff_runtime::prediction::PredictionType;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::path::Path;

/// The scheduler classes read here.
pub const SUPPORTED: [&str; 8] = [
    "DDPMScheduler",
    "DDIMScheduler",
    "DPMSolverMultistepScheduler",
    "UniPCMultistepScheduler",
    "EulerDiscreteScheduler",
    "EulerAncestralDiscreteScheduler",
    "HeunDiscreteScheduler",
    "FlowMatchEulerDiscreteScheduler",
];

/// A scheduler config as sampler options.
#[derive(Clone, Debug, PartialEq)]
pub struct SchedulerConfig {
    /// The diffusers class.
    pub class: String,
    /// The options it sets.
    pub args: SamplerArgs,
    /// Keys present that do not change sampling.
    pub ignored: Vec<String>,
}

/// Reads a `scheduler_config.json`; its `_class_name` names the scheduler.
pub fn read(path: &Path) -> Result<SchedulerConfig, Error> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let value = parse_json(&text, &file)?;
    let map = value
        .as_object()
        .ok_or_else(|| Error::Input(format!("{file}: expected a JSON object")))?;
    let class = map
        .get("_class_name")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Error::Input(format!(
                "{file}: no `_class_name`; expected one of {}",
                SUPPORTED.join(", ")
            ))
        })?;
    from_class(class, map, &file)
}

/// Parses JSON as Python's `json` writes it: the bare `Infinity`, `-Infinity` and `NaN` that
/// diffusers saves (`lambda_min_clipped = -inf`) become strings first.
pub fn parse_json(text: &str, file: &str) -> Result<Value, Error> {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if !in_string {
            let word = ["-Infinity", "Infinity", "NaN"]
                .into_iter()
                .find(|w| rest.starts_with(w));
            if let Some(w) = word {
                out.push('"');
                out.push_str(w);
                out.push('"');
                rest = &rest[w.len()..];
                continue;
            }
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    serde_json::from_str(&out).map_err(|e| Error::Input(format!("{file}: not valid JSON: {e}")))
}

/// Maps the keys of `config` for scheduler `class`; `file` names the source in errors.
pub fn from_class(
    class: &str,
    config: &Map<String, Value>,
    file: &str,
) -> Result<SchedulerConfig, Error> {
    if !SUPPORTED.contains(&class) {
        return Err(Error::Input(format!(
            "{file}: scheduler class `{class}` is not supported; supported: {}",
            SUPPORTED.join(", ")
        )));
    }
    let mut k = Keys::new(config, file, class);
    let mut args = SamplerArgs::default();
    k.common(&mut args)?;
    match class {
        "DDPMScheduler" => {
            args.sampler = Some(SamplerName::Ddpm);
            let variance = k.str("variance_type", "fixed_small")?;
            args.large_variance = Some(match variance.as_str() {
                "fixed_small" => false,
                "fixed_large" => true,
                _ => {
                    return Err(k.unsupported(
                        "variance_type",
                        &variance,
                        "fixed_small, fixed_large",
                    ));
                }
            });
            k.clip(&mut args, true)?;
        }
        "DDIMScheduler" => {
            args.sampler = Some(SamplerName::Ddim);
            args.final_sigma_min = Some(!k.bool("set_alpha_to_one", true)?);
            k.clip(&mut args, true)?;
        }
        "DPMSolverMultistepScheduler" => {
            let algorithm = k.str("algorithm_type", "dpmsolver++")?;
            let sde = match algorithm.as_str() {
                "dpmsolver++" => false,
                "sde-dpmsolver++" => true,
                _ => {
                    return Err(k.unsupported(
                        "algorithm_type",
                        &format!("\"{algorithm}\""),
                        "dpmsolver++, sde-dpmsolver++",
                    ));
                }
            };
            args.sampler = Some(if sde {
                SamplerName::SdeDpmSolverPp
            } else {
                SamplerName::DpmSolverPp
            });
            let order = k.order(if sde { 2 } else { 3 })?;
            args.solver_order = Some(order);
            if order >= 2 {
                k.only("solver_type", "midpoint")?;
            } else {
                k.ignore("solver_type");
            }
            args.no_lower_order_final = Some(!k.bool("lower_order_final", true)?);
            k.off("euler_at_final")?;
            k.sigmas(&mut args)?;
            k.off("use_lu_lambdas")?;
            k.flow_off()?;
            k.final_sigmas(&mut args)?;
            let lambda_min = k.f64("lambda_min_clipped", f64::NEG_INFINITY)?;
            if lambda_min != f64::NEG_INFINITY {
                return Err(k.unsupported("lambda_min_clipped", &lambda_min.to_string(), "-inf"));
            }
            k.only("variance_type", "")?;
            k.thresholding(&mut args)?;
        }
        "UniPCMultistepScheduler" => {
            args.sampler = Some(SamplerName::UniPc);
            args.solver_order = Some(k.order(3)?);
            k.only("solver_type", "bh2")?;
            if !k.bool("predict_x0", true)? {
                return Err(k.unsupported("predict_x0", "false", "true"));
            }
            args.no_lower_order_final = Some(!k.bool("lower_order_final", true)?);
            if let Some(v) = k.get("disable_corrector")
                && v.as_array().is_none_or(|a| !a.is_empty())
            {
                return Err(k.unsupported("disable_corrector", &v.to_string(), "[]"));
            }
            k.only("solver_p", "")?;
            k.only("shift_terminal", "")?;
            k.sigmas(&mut args)?;
            k.flow_off()?;
            k.final_sigmas(&mut args)?;
            k.thresholding(&mut args)?;
        }
        "EulerDiscreteScheduler" => {
            args.sampler = Some(SamplerName::Euler);
            k.only("interpolation_type", "linear")?;
            k.only("timestep_type", "discrete")?;
            k.sigmas(&mut args)?;
            k.final_sigmas(&mut args)?;
        }
        "FlowMatchEulerDiscreteScheduler" => {
            args.sampler = Some(SamplerName::FlowEuler);
            args.prediction = Some(PredictionType::FlowVelocity);
            let shift = k.f64("shift", 1.0)?;
            if !(shift > 0.0 && shift.is_finite()) {
                return Err(k.wrong_type("shift", &Value::from(shift), "a positive number"));
            }
            args.shift = Some(shift);
            for key in [
                "invert_sigmas",
                "stochastic_sampling",
                "use_karras_sigmas",
                "use_exponential_sigmas",
                "use_beta_sigmas",
                "use_dynamic_shifting",
            ] {
                k.off(key)?;
            }
            k.only("shift_terminal", "")?;
            for key in [
                "base_shift",
                "max_shift",
                "base_image_seq_len",
                "max_image_seq_len",
                "time_shift_type",
            ] {
                k.ignore(key);
            }
        }
        "HeunDiscreteScheduler" => {
            args.sampler = Some(SamplerName::Heun);
            k.sigmas(&mut args)?;
            k.clip(&mut args, false)?;
        }
        _ => args.sampler = Some(SamplerName::EulerAncestral),
    }
    let ignored = k.finish()?;
    Ok(SchedulerConfig {
        class: class.to_string(),
        args,
        ignored,
    })
}

/// The keys of one config, each marked as it is read.
struct Keys<'a> {
    map: &'a Map<String, Value>,
    file: &'a str,
    class: &'a str,
    seen: BTreeSet<&'a str>,
    ignored: Vec<String>,
}

impl<'a> Keys<'a> {
    fn new(map: &'a Map<String, Value>, file: &'a str, class: &'a str) -> Self {
        Self {
            map,
            file,
            class,
            seen: BTreeSet::new(),
            ignored: Vec::new(),
        }
    }

    /// The value of `key` (`null` counts as absent), marked as read.
    fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        let (name, value) = self.map.get_key_value(key)?;
        self.seen.insert(name.as_str());
        (!value.is_null()).then_some(value)
    }

    fn wrong_type(&self, key: &str, value: &Value, expected: &str) -> Error {
        Error::Input(format!(
            "{}: `{key}` = {value}: expected {expected}",
            self.file
        ))
    }

    fn unsupported(&self, key: &str, value: &str, supported: &str) -> Error {
        Error::Input(format!(
            "{}: `{key}` = {value} changes {}'s results in a way edgediff does not reproduce; \
             supported: {supported}",
            self.file, self.class
        ))
    }

    fn f64(&mut self, key: &'static str, default: f64) -> Result<f64, Error> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Number(n)) => n
                .as_f64()
                .ok_or_else(|| self.wrong_type(key, &Value::Number(n.clone()), "a number")),
            Some(Value::String(s)) if s == "-Infinity" => Ok(f64::NEG_INFINITY),
            Some(Value::String(s)) if s == "Infinity" => Ok(f64::INFINITY),
            Some(v) => Err(self.wrong_type(key, v, "a number")),
        }
    }

    fn bool(&mut self, key: &'static str, default: bool) -> Result<bool, Error> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(self.wrong_type(key, v, "true or false")),
        }
    }

    fn str(&mut self, key: &'static str, default: &str) -> Result<String, Error> {
        match self.get(key) {
            None => Ok(default.to_string()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v) => Err(self.wrong_type(key, v, "a string")),
        }
    }

    /// `key` may only be absent or `value` (`""`: only absent or null).
    fn only(&mut self, key: &'static str, value: &str) -> Result<(), Error> {
        let got = self.str(key, value)?;
        if got == value {
            Ok(())
        } else {
            let supported = if value.is_empty() { "null" } else { value };
            Err(self.unsupported(key, &format!("\"{got}\""), supported))
        }
    }

    /// A switch that must be off.
    fn off(&mut self, key: &'static str) -> Result<(), Error> {
        if self.bool(key, false)? {
            Err(self.unsupported(key, "true", "false"))
        } else {
            Ok(())
        }
    }

    /// A key that does not change the result (listed as ignored when present).
    fn ignore(&mut self, key: &'static str) {
        if self.get(key).is_some() {
            self.ignored.push(key.to_string());
        }
    }

    /// Keys every class shares: the betas, the spacing, the prediction type.
    fn common(&mut self, args: &mut SamplerArgs) -> Result<(), Error> {
        let s = &mut args.schedule;
        let train_steps = self.f64("num_train_timesteps", 1000.0)?;
        if !(train_steps >= 1.0 && train_steps.fract() == 0.0) {
            return Err(self.wrong_type(
                "num_train_timesteps",
                &Value::from(train_steps),
                "a positive integer",
            ));
        }
        s.train_steps = Some(train_steps as usize);
        // Heun's constructor defaults to Stable Diffusion's betas; the others to DDPM's.
        let (start, end) = if self.class == "HeunDiscreteScheduler" {
            (0.00085, 0.012)
        } else {
            (1e-4, 0.02)
        };
        s.beta_start = Some(self.f64("beta_start", start)?);
        s.beta_end = Some(self.f64("beta_end", end)?);
        let betas = self.str("beta_schedule", "linear")?;
        s.betas = Some(match betas.as_str() {
            "linear" => BetaName::Linear,
            "scaled_linear" => BetaName::ScaledLinear,
            "squaredcos_cap_v2" => BetaName::Cosine,
            "sigmoid" => BetaName::Sigmoid,
            _ => {
                return Err(self.unsupported(
                    "beta_schedule",
                    &format!("\"{betas}\""),
                    "linear, scaled_linear, squaredcos_cap_v2, sigmoid",
                ));
            }
        });
        if let Some(v) = self.get("trained_betas") {
            let betas: Option<Vec<f64>> = v
                .as_array()
                .map(|a| a.iter().map(Value::as_f64).collect())
                .unwrap_or(None);
            let betas =
                betas.ok_or_else(|| self.wrong_type("trained_betas", v, "a list of numbers"))?;
            if betas.len() != train_steps as usize {
                return Err(Error::Input(format!(
                    "{}: `trained_betas` holds {} values, `num_train_timesteps` is {train_steps}",
                    self.file,
                    betas.len()
                )));
            }
            s.trained_betas = Some(betas);
        }
        s.zero_snr = Some(self.bool("rescale_betas_zero_snr", false)?);
        if let Some(v) = self.get("prediction_type") {
            let name = v.as_str().unwrap_or_default();
            args.prediction = Some(match name {
                "epsilon" => PredictionType::Epsilon,
                "v_prediction" => PredictionType::VPrediction,
                "sample" => PredictionType::Sample,
                _ => {
                    return Err(self.unsupported(
                        "prediction_type",
                        &v.to_string(),
                        "epsilon, v_prediction, sample",
                    ));
                }
            });
        }
        let default_spacing = match self.class {
            "DDPMScheduler" | "DDIMScheduler" => "leading",
            _ => "linspace",
        };
        let spacing = self.str("timestep_spacing", default_spacing)?;
        args.spacing = Some(match spacing.as_str() {
            "linspace" => SpacingName::Linspace,
            "leading" => SpacingName::Leading,
            "trailing" => SpacingName::Trailing,
            _ => {
                return Err(self.unsupported(
                    "timestep_spacing",
                    &format!("\"{spacing}\""),
                    "linspace, leading, trailing",
                ));
            }
        });
        let offset = self.f64("steps_offset", 0.0)?;
        if !(offset >= 0.0 && offset.fract() == 0.0 && offset <= f64::from(u32::MAX)) {
            return Err(self.wrong_type("steps_offset", &Value::from(offset), "an integer >= 0"));
        }
        args.steps_offset = Some(offset as u32);
        if matches!(self.class, "DDPMScheduler" | "DDIMScheduler") {
            self.thresholding(args)?;
        }
        Ok(())
    }

    /// `solver_order`, 1 to `max`.
    fn order(&mut self, max: u8) -> Result<u8, Error> {
        let order = self.f64("solver_order", 2.0)?;
        if order >= 1.0 && order <= f64::from(max) && order.fract() == 0.0 {
            Ok(order as u8)
        } else {
            let supported = if max == 2 { "1, 2" } else { "1, 2, 3" };
            Err(self.unsupported("solver_order", &order.to_string(), supported))
        }
    }

    /// `use_karras_sigmas` (and the other spacings, which must be off); `sigma_min` and
    /// `sigma_max` only bound Karras sigmas, where their defaults (the training range) are
    /// the only ones supported.
    fn sigmas(&mut self, args: &mut SamplerArgs) -> Result<(), Error> {
        let karras = self.bool("use_karras_sigmas", false)?;
        args.karras = Some(karras);
        self.off("use_exponential_sigmas")?;
        self.off("use_beta_sigmas")?;
        for key in ["sigma_min", "sigma_max"] {
            if karras && let Some(v) = self.get(key) {
                return Err(self.unsupported(key, &v.to_string(), "null"));
            }
            self.ignore(key);
        }
        Ok(())
    }

    /// Flow sigmas and dynamic shifting must be off; their parameters then change nothing.
    fn flow_off(&mut self) -> Result<(), Error> {
        self.off("use_flow_sigmas")?;
        self.off("use_dynamic_shifting")?;
        self.ignore("flow_shift");
        self.ignore("time_shift_type");
        Ok(())
    }

    /// `clip_sample` and its range (which thresholding, when on, replaces).
    fn clip(&mut self, args: &mut SamplerArgs, default: bool) -> Result<(), Error> {
        if args.thresholding.is_some() {
            self.ignore("clip_sample");
            self.ignore("clip_sample_range");
        } else if self.bool("clip_sample", default)? {
            let range = self.f64("clip_sample_range", 1.0)?;
            args.clip_sample = Some(range as f32);
        } else {
            self.ignore("clip_sample_range");
        }
        Ok(())
    }

    /// `final_sigmas_type`.
    fn final_sigmas(&mut self, args: &mut SamplerArgs) -> Result<(), Error> {
        let v = self.str("final_sigmas_type", "zero")?;
        args.final_sigma_min = Some(match v.as_str() {
            "zero" => false,
            "sigma_min" => true,
            _ => {
                return Err(self.unsupported(
                    "final_sigmas_type",
                    &format!("\"{v}\""),
                    "zero, sigma_min",
                ));
            }
        });
        Ok(())
    }

    /// Dynamic thresholding (Imagen): `thresholding` with its ratio and largest threshold;
    /// when it is off they change nothing.
    fn thresholding(&mut self, args: &mut SamplerArgs) -> Result<(), Error> {
        if self.bool("thresholding", false)? {
            args.thresholding = Some(self.f64("dynamic_thresholding_ratio", 0.995)? as f32);
            args.sample_max_value = Some(self.f64("sample_max_value", 1.0)? as f32);
        } else {
            self.ignore("dynamic_thresholding_ratio");
            self.ignore("sample_max_value");
        }
        Ok(())
    }

    /// Every key must have been read: `_`-prefixed bookkeeping keys are ignored, any other
    /// unread key is an error (it may change the result).
    fn finish(mut self) -> Result<Vec<String>, Error> {
        for key in self.map.keys() {
            if self.seen.contains(key.as_str()) || key == "_class_name" {
                continue;
            }
            if key.starts_with('_') {
                self.ignored.push(key.clone());
            } else {
                return Err(Error::Input(format!(
                    "{}: unknown key `{key}` for {} (it may change sampling; remove it if it \
                     does not)",
                    self.file, self.class
                )));
            }
        }
        Ok(self.ignored)
    }
}
