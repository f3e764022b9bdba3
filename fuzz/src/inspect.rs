//! `edgediff inspect` on arbitrary bytes (a pack, an ONNX model, or neither).

/// Inspects `data`; errors are fine, panics are not.
pub fn run(data: &[u8]) {
    crate::quiet_guarded_panics();
    let _ = edgediff::cli::inspect::inspect_bytes(data, "fuzz");
}
