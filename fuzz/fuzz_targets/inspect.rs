//! Fuzz target: see [`edgediff_fuzz::inspect`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| edgediff_fuzz::inspect::run(data));
