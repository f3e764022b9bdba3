//! Fuzz target: see [`edgediff_fuzz::pack`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| edgediff_fuzz::pack::run(data));
