//! Fuzz target: see [`edgediff_fuzz::onnx_import`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| edgediff_fuzz::onnx_import::run(data));
