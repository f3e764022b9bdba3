//! Replays every committed seed, minimized corpus entry and crash reproducer through the fuzz
//! bodies (stable Rust, part of the test suite): a reproducer that panics again fails here.

use std::path::Path;

/// Runs every file under `fuzz/{seeds,regressions}/<target>` (and, for the byte-level
/// targets, the shipped models' packs and ONNX files, the fuzzers' seeds too) through `body`.
fn replay(target: &str, body: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![
        root.join("seeds").join(target),
        root.join("regressions").join(target),
    ];
    if target != "sampler_config" {
        for m in [
            "two-moons",
            "digits-mlp",
            "digits-unet",
            "digits-attn",
            "ecg-unet1d",
        ] {
            dirs.push(root.join("../models").join(m));
        }
    }
    let mut n = 0;
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<_> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                let ext = p.extension().and_then(|e| e.to_str());
                // The importer only makes sense on ONNX; a pack target reads everything.
                target != "onnx_import" || ext == Some("onnx")
            })
            .collect();
        files.sort();
        for f in files {
            let bytes = std::fs::read(&f).unwrap();
            body(&bytes);
            n += 1;
        }
    }
    println!("{target}: replayed {n} inputs");
    n
}

#[test]
fn pack_corpus() {
    assert!(replay("pack", edgediff_fuzz::pack::run) >= 3);
}

#[test]
fn sampler_config_corpus() {
    assert!(replay("sampler_config", edgediff_fuzz::sampler_config::run) >= 3);
}

#[test]
fn onnx_import_corpus() {
    assert!(replay("onnx_import", edgediff_fuzz::onnx_import::run) >= 2);
}

#[test]
fn inspect_corpus() {
    assert!(replay("inspect", edgediff_fuzz::inspect::run) >= 3);
}
