//! The ONNX importer through `quantize`: decode, import, calibrate, quantize and compile.

use edgediff_runtime::sampler::plan::{self, PlanConfig, SamplerKind};
use edgediff_runtime::schedule::betas::{BetaSchedule, NoiseSchedule};
use edgediff_runtime::schedule::spacing::Spacing;
use prost::Message;

/// Decodes `data` as ONNX and, if it imports, quantizes it for a 2-step DDIM on 2
/// calibration trajectories and compiles the pack.
pub fn run(data: &[u8]) {
    crate::quiet_guarded_panics();
    let Ok(proto) = tract_onnx::pb::ModelProto::decode(data) else {
        return;
    };
    let Ok(schedule) = NoiseSchedule::new(&BetaSchedule::DDPM_LINEAR, 1000) else {
        return;
    };
    let cfg = PlanConfig::new(SamplerKind::Ddim { eta: 0.0 }, 2, Spacing::Linspace);
    let Ok(plan) = plan::build(&schedule, &cfg) else {
        return;
    };
    let calib = edgediff::quantize::calibrate::CalibConfig::new(2);
    let _ = edgediff::pipeline::pack_for_plan(&proto, "fuzz.onnx", &plan, &calib, None);
}
