//! Every command, given a missing file, a directory, an empty file, a truncated file or a pack
//! from a newer format version, exits non-zero with a one-line error that names the problem.

use std::path::{Path, PathBuf};
use std::process::Command;

fn edgediff(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_edgediff"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!("edgediff-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/two-moons")
}

#[test]
fn bad_inputs_give_one_line_errors() {
    let d = scratch();
    let empty = d.join("empty.onnx");
    std::fs::write(&empty, b"").unwrap();
    let onnx = std::fs::read(models().join("int8.onnx")).unwrap();
    let truncated = d.join("truncated.onnx");
    std::fs::write(&truncated, &onnx[..onnx.len() / 3]).unwrap();
    let mut pack = std::fs::read(models().join("model.pack")).unwrap();
    pack[4] = 2; // format version 2
    let newer = d.join("newer.pack");
    std::fs::write(&newer, &pack).unwrap();
    let missing = d.join("missing.onnx");
    let out = d.join("out.bin");
    let dir = d.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["inspect", missing.to_str().unwrap()], "missing.onnx"),
        (vec!["inspect", dir], "directory"),
        (vec!["inspect", empty.to_str().unwrap()], "empty"),
        (
            vec!["inspect", truncated.to_str().unwrap()],
            "truncated.onnx",
        ),
        (vec!["inspect", newer.to_str().unwrap()], "version 2"),
        (
            vec![
                "quantize",
                "--model",
                missing.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            "missing.onnx",
        ),
        (
            vec!["quantize", "--model", dir, "--out", out.to_str().unwrap()],
            "directory",
        ),
        (
            vec![
                "quantize",
                "--model",
                empty.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            "empty",
        ),
        (
            vec![
                "quantize",
                "--model",
                truncated.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            "truncated.onnx",
        ),
        (
            vec![
                "compile",
                "--model",
                truncated.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            "truncated.onnx",
        ),
        (
            vec![
                "compile",
                "--model",
                empty.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            "empty",
        ),
        (
            vec![
                "sample",
                "--model",
                newer.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            "version 2",
        ),
        (
            vec![
                "sample",
                "--model",
                missing.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            "missing.onnx",
        ),
        (
            vec![
                "sample",
                "--model",
                empty.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            "empty.onnx",
        ),
    ];
    for (args, needle) in cases {
        let (code, err) = edgediff(&args);
        assert_ne!(code, 0, "{args:?} succeeded");
        assert!(
            !err.contains("panicked") && !err.contains("backtrace"),
            "{args:?}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(needle),
            "{args:?}: {err}"
        );
        assert!(!out.exists(), "{args:?} left an output behind");
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn outputs_are_not_overwritten_without_force() {
    let d = scratch().join("force");
    std::fs::create_dir_all(&d).unwrap();
    let out = d.join("s.csv");
    std::fs::write(&out, b"keep").unwrap();
    let pack = models().join("model.pack");
    let (code, err) = edgediff(&[
        "sample",
        "--model",
        pack.to_str().unwrap(),
        "-n",
        "4",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), b"keep");
    let (code, _) = edgediff(&[
        "sample",
        "--model",
        pack.to_str().unwrap(),
        "-n",
        "4",
        "--out",
        out.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(code, 0);
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 4);
    std::fs::remove_dir_all(&d).unwrap();
}
