//! The bodies of edgediff's fuzz targets. Each `run(data)` must return normally for every
//! input: a panic is a bug. The libFuzzer binaries in `fuzz_targets/` call them, and
//! `tests/corpus.rs` replays the committed corpora and crash reproducers through them on
//! stable Rust, as part of the test suite.

pub mod bytes;

/// Keeps the panic hook quiet for the tract panics that [`edgediff::engines::tract::guarded`]
/// turns into errors; every other panic still reaches the previous hook (libFuzzer's, which
/// records the crash, or the test harness's).
pub fn quiet_guarded_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !edgediff::engines::tract::in_guard() {
                previous(info);
            }
        }));
    });
}
pub mod inspect;
pub mod onnx_import;
pub mod pack;
pub mod sampler_config;
