//! diffusers' `scheduler_config.json` through the binary: it drives quantize, compile and
//! sample with no other sampler flag, flags override it, unknown or unsupported keys are errors
//! naming the key, a pack refuses options that ask for another table, and `conformance` exits
//! non-zero only when a case differs.

use std::path::{Path, PathBuf};
use std::process::Command;

fn edgediff(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_edgediff"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(name: &str) -> String {
    root()
        .join("tests/fixtures/diffusers")
        .join(name)
        .join("scheduler_config.json")
        .display()
        .to_string()
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("edgediff-sc-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn a_diffusers_config_drives_quantize_compile_and_sample() {
    let d = scratch("drive");
    let cfg = fixture("dpm-solver");
    let moons = root().join("models/two-moons");
    let (int8, pack, csv) = (d.join("int8.onnx"), d.join("m.pack"), d.join("s.csv"));
    let float = s(&moons.join("float.onnx"));
    let (code, _, err) = edgediff(&[
        "quantize",
        "--model",
        &float,
        "--out",
        &s(&int8),
        "--scheduler-config",
        &cfg,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("ignored: ") && err.contains("_diffusers_version"),
        "{err}"
    );
    let (code, _, err) = edgediff(&[
        "compile",
        "--model",
        &s(&int8),
        "--out",
        &s(&pack),
        "--scheduler-config",
        &cfg,
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = edgediff(&[
        "sample",
        "--model",
        &s(&pack),
        "--engine",
        "runtime",
        "--scheduler-config",
        &cfg,
        "-n",
        "8",
        "--out",
        &s(&csv),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("8 samples"), "{out}");

    // A flag overrides the file: with --steps 20 the shipped int8 model compiles to the
    // shipped pack, byte for byte (it was built with `--sampler dpmpp --steps 20`).
    let pack20 = d.join("m20.pack");
    let (code, _, err) = edgediff(&[
        "compile",
        "--model",
        &s(&moons.join("int8.onnx")),
        "--out",
        &s(&pack20),
        "--scheduler-config",
        &cfg,
        "--steps",
        "20",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read(&pack20).unwrap(),
        std::fs::read(moons.join("model.pack")).unwrap()
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn stable_diffusions_ddim_config_ends_at_abar_0() {
    let (code, out, err) = edgediff(&[
        "schedule",
        "--scheduler-config",
        &fixture("sd-ddim"),
        "--steps",
        "5",
    ]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<Vec<&str>> = out
        .lines()
        .skip(1)
        .take(5)
        .map(|l| l.split_whitespace().collect())
        .collect();
    // leading spacing with steps_offset = 1: 801, 601, 401, 201, 1.
    let ts: Vec<&str> = rows.iter().map(|r| r[1]).collect();
    assert_eq!(ts, ["801", "601", "401", "201", "1"]);
    // set_alpha_to_one = false: the last step ends at abar_0 (t_prev 0, c_eps > 0), not at 1.
    assert_eq!(rows[4][2], "0");
    assert!(rows[4][6].parse::<f64>().unwrap() > 0.01, "{out}");
}

#[test]
fn bad_configs_name_the_key() {
    let d = scratch("bad");
    let write = |name: &str, text: &str| {
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        s(&p)
    };
    let cases = [
        (
            write(
                "unknown.json",
                r#"{"_class_name": "DDIMScheduler", "foo": 1}"#,
            ),
            "unknown key `foo`",
        ),
        (
            write(
                "bh1.json",
                r#"{"_class_name": "UniPCMultistepScheduler", "solver_type": "bh1"}"#,
            ),
            "`solver_type` = \"bh1\"",
        ),
        (
            write(
                "karras.json",
                r#"{"_class_name": "EulerDiscreteScheduler", "use_karras_sigmas": "yes"}"#,
            ),
            "`use_karras_sigmas` = \"yes\": expected true or false",
        ),
        (
            write("class.json", r#"{"_class_name": "PNDMScheduler"}"#),
            "`PNDMScheduler` is not supported",
        ),
        (
            write("noclass.json", r#"{"beta_end": 0.02}"#),
            "no `_class_name`",
        ),
        (
            write("broken.json", r#"{"_class_name": "#),
            "not valid JSON",
        ),
    ];
    for (file, want) in &cases {
        let (code, _, err) = edgediff(&["schedule", "--scheduler-config", file]);
        assert_ne!(code, 0, "{file}");
        assert!(
            err.contains(file.as_str()) && err.contains(want),
            "{file}: {err}"
        );
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_pack_refuses_sampler_options_that_ask_for_another_table() {
    let moons = root().join("models/two-moons");
    let pack = s(&moons.join("model.pack"));
    let csv = s(&scratch("pack").join("s.csv"));
    let sample = |sampler: &str, steps: &str| {
        edgediff(&[
            "sample",
            "--model",
            &pack,
            "--engine",
            "runtime",
            "--sampler",
            sampler,
            "--steps",
            steps,
            "-n",
            "2",
            "--out",
            &csv,
            "--force",
        ])
    };
    let (code, _, err) = sample("ddpm", "50");
    assert_ne!(code, 0);
    for want in [
        "model.pack",
        "20 steps",
        "50 steps",
        "--sampler ddpm --steps 50",
        "edgediff compile",
        "edgediff quantize",
    ] {
        assert!(err.contains(want), "missing {want:?} in {err}");
    }
    // The pack's own options are accepted.
    let (code, _, err) = sample("dpmpp", "20");
    assert_eq!(code, 0, "{err}");
}

#[test]
fn conformance_exits_non_zero_only_on_a_difference() {
    let d = scratch("conf");
    let all: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/fixtures/diffusers/cases.json"))
            .unwrap()
            .replace("-Infinity", "\"-Infinity\""),
    )
    .unwrap();
    let mut case = all["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "DDIMScheduler/stable-diffusion")
        .unwrap()
        .clone();
    let good = d.join("good.json");
    std::fs::write(
        &good,
        serde_json::json!({"cases": [case.clone()]}).to_string(),
    )
    .unwrap();
    let (code, out, err) = edgediff(&["conformance", &s(&good)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("ok") && out.contains("1 of 1 cases conform"),
        "{out}"
    );
    case["abs_mean"] = serde_json::json!(0.3);
    let bad = d.join("bad.json");
    std::fs::write(&bad, serde_json::json!({"cases": [case]}).to_string()).unwrap();
    let (code, out, err) = edgediff(&["conformance", &s(&bad)]);
    assert_ne!(code, 0);
    assert!(
        out.contains("differs") && err.contains("1 of 1 cases differ"),
        "{out}{err}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

/// Dynamic thresholding compiles into the pack (META flag bit 1) and samples with the same
/// bits on the runtime and on tract; a config's `thresholding = true` sets it.
#[test]
fn dynamic_thresholding_is_compiled_in_and_engines_agree() {
    let d = scratch("threshold");
    let moons = root().join("models/two-moons");
    let int8 = s(&moons.join("int8.onnx"));
    let cfg = d.join("scheduler_config.json");
    std::fs::write(
        &cfg,
        r#"{"_class_name": "DPMSolverMultistepScheduler", "prediction_type": "v_prediction",
            "thresholding": true, "dynamic_thresholding_ratio": 0.9, "sample_max_value": 1.2}"#,
    )
    .unwrap();
    let flags = ["--scheduler-config", &s(&cfg), "--steps", "20"];
    let pack = d.join("th.pack");
    let mut compile = vec!["compile", "--model", &int8, "--out"];
    let pack_s = s(&pack);
    compile.push(&pack_s);
    compile.extend(flags);
    let (code, _, err) = edgediff(&compile);
    assert_eq!(code, 0, "{err}");
    let bytes = std::fs::read(&pack).unwrap();
    let parsed = edgediff_runtime::pack::Pack::parse(&bytes).unwrap();
    let th = parsed
        .meta()
        .thresholding
        .expect("thresholding in the pack");
    assert_eq!((th.ratio, th.max_value), (0.9, 1.2));
    let sample = |model: &str, engine: &str, out: &Path, extra: &[&str]| {
        let mut a = vec![
            "sample", "--model", model, "--engine", engine, "-n", "64", "--out",
        ];
        let o = s(out);
        a.push(&o);
        a.extend(extra);
        let (code, _, err) = edgediff(&a);
        assert_eq!(code, 0, "{err}");
        std::fs::read_to_string(out).unwrap()
    };
    let runtime = sample(&pack_s, "runtime", &d.join("r.csv"), &[]);
    let tract = sample(&int8, "tract", &d.join("t.csv"), &flags);
    assert_eq!(runtime, tract);
    // Without thresholding the samples differ (the threshold acts on this model).
    let plain = sample(
        &int8,
        "tract",
        &d.join("p.csv"),
        &["--sampler", "dpmpp", "--steps", "20"],
    );
    assert_ne!(runtime, plain);
    std::fs::remove_dir_all(&d).unwrap();
}
