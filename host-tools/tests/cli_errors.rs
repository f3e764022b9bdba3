//! Every command that reads a model, given a missing file, a directory, an empty file, a
//! truncated ONNX, an ONNX with an unsupported op, an ONNX that makes tract panic, or a pack
//! from a newer format version, exits non-zero with a one-line error that names the file.

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

/// The hostile inputs: (file, the text its error must contain).
fn hostile_files(d: &Path) -> Vec<(PathBuf, &'static str)> {
    use prost::Message;
    let write = |name: &str, bytes: &[u8]| {
        let p = d.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let onnx = std::fs::read(models().join("float.onnx")).unwrap();
    let mut unsupported = tract_onnx::pb::ModelProto::decode(onnx.as_slice()).unwrap();
    let g = unsupported.graph.as_mut().unwrap();
    let last = g.node.len() - 1;
    g.node[last].op_type = "LSTM".into();
    // An int8 ONNX stripped of its edgediff metadata looks like a float model, and its
    // timestep Gather indexes past its 20-row table: tract-core 0.23.9 panics on it.
    let int8 = std::fs::read(models().join("int8.onnx")).unwrap();
    let mut stripped = tract_onnx::pb::ModelProto::decode(int8.as_slice()).unwrap();
    stripped.metadata_props.clear();
    let mut pack = std::fs::read(models().join("model.pack")).unwrap();
    pack[4] = 2; // format version 2
    vec![
        (d.join("missing.onnx"), "missing.onnx"),
        (d.to_path_buf(), "directory"),
        (write("empty.onnx", b""), "empty.onnx"),
        (
            write("truncated.onnx", &onnx[..onnx.len() / 3]),
            "truncated.onnx",
        ),
        (
            write("unsupported.onnx", &unsupported.encode_to_vec()),
            "unsupported.onnx",
        ),
        (
            write("stripped.onnx", &stripped.encode_to_vec()),
            "stripped.onnx",
        ),
        (write("newer.pack", &pack), "newer.pack"),
    ]
}

/// Every command that reads a model, with `file` in the model's place.
fn commands(file: &str, out: &str) -> Vec<Vec<String>> {
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect();
    vec![
        v(&["inspect", file]),
        v(&["quantize", "--model", file, "--out", out]),
        v(&["compile", "--model", file, "--out", out]),
        v(&["sample", "--model", file, "--out", out]),
        v(&["sample", "--engine", "tract", "--model", file, "--out", out]),
        v(&[
            "sample",
            "--engine",
            "tract-float",
            "--model",
            file,
            "--out",
            out,
        ]),
        v(&["eval", "--model", file, "--data", "two-moons", "-n", "10"]),
        v(&["elbo", "--model", file, "--data", "two-moons", "-n", "10"]),
        v(&[
            "compare",
            "--model",
            file,
            "--data",
            "two-moons",
            "-n",
            "10",
        ]),
    ]
}

#[test]
fn bad_inputs_give_one_line_errors() {
    let d = scratch();
    let out = d.join("out.bin");
    let mut checked = 0;
    for (file, needle) in hostile_files(&d) {
        for args in commands(file.to_str().unwrap(), out.to_str().unwrap()) {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (code, err) = edgediff(&args);
            assert_ne!(code, 0, "{args:?} succeeded");
            assert!(
                !err.contains("panicked") && !err.contains("backtrace"),
                "{args:?}: {err}"
            );
            assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
            assert!(err.starts_with("error: "), "{args:?}: {err}");
            assert!(
                err.contains(needle) || (needle == "directory" && err.contains("edgediff-cli")),
                "{args:?}: the error does not name {needle}: {err}"
            );
            assert!(!out.exists(), "{args:?} left an output behind");
            checked += 1;
        }
    }
    println!("{checked} hostile command lines, each a one-line error");
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

/// `-n 0` names the flag (it used to reach the sampler as "invalid sample_len").
#[test]
fn zero_samples_names_the_flag() {
    let pack = models().join("model.pack");
    let out = scratch().join("zero.csv");
    let (code, err) = edgediff(&[
        "sample",
        "--model",
        pack.to_str().unwrap(),
        "--engine",
        "runtime",
        "-n",
        "0",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("--samples") && err.contains("'0'"), "{err}");
}
