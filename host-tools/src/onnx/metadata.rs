//! The `metadata_props` edgediff reads and writes: every key and the prediction-type names
//! live here.

use crate::error::Error;
use edgediff_runtime::prediction::PredictionType;
use tract_onnx::pb::{ModelProto, StringStringEntryProto};

/// The prediction type (`epsilon`, `sample` or `v_prediction`).
pub const PREDICTION: &str = "edgediff.prediction";
/// The prediction type under diffusers' own key, as a user may record it.
pub const DIFFUSERS_PREDICTION: &str = "prediction_type";
/// Comma-separated timesteps of the step tables (int8 ONNX).
pub const TIMESTEPS: &str = "edgediff.timesteps";
/// The source graph's tensor names, one per line, in tensor order (int8 ONNX).
pub const NAMES: &str = "edgediff.tensor_names";
/// Guidance scale (int8 ONNX).
pub const GUIDANCE: &str = "edgediff.guidance";
/// Per-step activation parameters, rows separated by `;`, sets by `,`, each
/// `scale_bits:zero_point` (scale as hexadecimal f32 bits) (int8 ONNX).
pub const QPARAMS: &str = "edgediff.qparams";

/// Parameters only edgediff reads back (weight scales, GroupNorm's source gamma / beta /
/// eps, unused activation scales), kept out of the initializers so that no engine warns
/// about initializers no node reads: one line per tensor, `name data_type dims hex-bytes`
/// (int8 ONNX).
pub const PARAMS: &str = "edgediff.params";

/// The prediction type as written in metadata (diffusers' names).
pub fn prediction_name(p: PredictionType) -> &'static str {
    match p {
        PredictionType::Epsilon => "epsilon",
        PredictionType::Sample => "sample",
        PredictionType::VPrediction => "v_prediction",
        PredictionType::FlowVelocity => "flow_prediction",
    }
}

/// Reads a prediction type: diffusers' names (`epsilon`, `v_prediction`, `sample`,
/// `flow_prediction`) and the short forms (`eps`, `v`, `x0`, `flow`).
pub fn parse_prediction(name: &str) -> Option<PredictionType> {
    match name.trim().to_lowercase().as_str() {
        "epsilon" | "eps" | "noise" => Some(PredictionType::Epsilon),
        "v_prediction" | "v" => Some(PredictionType::VPrediction),
        "sample" | "x0" => Some(PredictionType::Sample),
        "flow_prediction" | "flow" => Some(PredictionType::FlowVelocity),
        _ => None,
    }
}

/// The value of metadata `key`.
pub fn get<'m>(model: &'m ModelProto, key: &str) -> Option<&'m str> {
    model
        .metadata_props
        .iter()
        .find(|p| p.key == key)
        .map(|p| p.value.as_str())
}

/// A metadata entry.
pub fn entry(key: &str, value: String) -> StringStringEntryProto {
    StringStringEntryProto {
        key: key.into(),
        value,
    }
}

/// The prediction type `model` records (under edgediff's or diffusers' key), if any; an
/// error when the value is unknown or the two keys disagree.
pub fn recorded_prediction(
    model: &ModelProto,
    file: &str,
) -> Result<Option<PredictionType>, Error> {
    let mut found: Option<(&str, PredictionType)> = None;
    for key in [PREDICTION, DIFFUSERS_PREDICTION] {
        let Some(v) = get(model, key) else { continue };
        let p = parse_prediction(v).ok_or_else(|| {
            Error::Input(format!(
                "{file}: metadata `{key}` = `{v}` is not a prediction type (epsilon, \
                 v_prediction or sample)"
            ))
        })?;
        if let Some((k0, p0)) = found
            && p0 != p
        {
            return Err(Error::Input(format!(
                "{file}: metadata `{k0}` says {} but `{key}` says {}; pass --prediction to \
                 choose",
                prediction_name(p0),
                prediction_name(p)
            )));
        }
        found = Some((key, p));
    }
    Ok(found.map(|f| f.1))
}

/// The prediction type to use: `flag` when given (the command line wins over the file),
/// else what the file records, else epsilon. Prints a note when the flag overrides a
/// different recorded type.
pub fn prediction(
    model: &ModelProto,
    file: &str,
    flag: Option<PredictionType>,
) -> Result<PredictionType, Error> {
    match flag {
        Some(f) => {
            if let Ok(Some(r)) = recorded_prediction(model, file)
                && r != f
            {
                eprintln!(
                    "note: {file} records {} prediction; using --prediction {}",
                    prediction_name(r),
                    prediction_name(f)
                );
            }
            Ok(f)
        }
        None => Ok(recorded_prediction(model, file)?.unwrap_or_default()),
    }
}
