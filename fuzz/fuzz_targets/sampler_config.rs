//! Fuzz target: see [`edgediff_fuzz::sampler_config`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| edgediff_fuzz::sampler_config::run(data));
