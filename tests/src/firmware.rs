//! Drives the firmware under QEMU (`scripts/firmware.sh`) and reads its log and ELF.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One op of the profiled evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct OpCost {
    /// Op index in the pack.
    pub index: usize,
    /// Op kind as printed (`Conv`, `Add`, ...).
    pub kind: String,
    /// MACs (conv / linear ops; 0 otherwise).
    pub macs: u64,
    /// Executed instructions.
    pub instructions: u64,
}

/// What the firmware printed.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// Each sample's `f32` bit patterns.
    pub samples: BTreeMap<usize, Vec<u32>>,
    /// MACs per network evaluation.
    pub macs: u64,
    /// Instructions per network evaluation (mean over the run).
    pub per_evaluation: u64,
    /// Network evaluations in the run.
    pub evaluations: u64,
    /// Instructions per sample (the whole reverse process).
    pub per_sample: u64,
    /// Stack high-water mark, bytes.
    pub stack: u64,
    /// The profiled evaluation, op by op.
    pub ops: Vec<OpCost>,
}

/// The number after `key` in `line`.
fn number_after(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The number right before `key` in `line`.
fn number_before(line: &str, key: &str) -> Option<u64> {
    let head = line[..line.find(key)?].trim_end();
    let start = head
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    head[start..].parse().ok()
}

/// Parses the firmware's decoded defmt log.
pub fn parse(log: &str) -> Run {
    let mut run = Run::default();
    for line in log.lines() {
        if let Some(rest) = line.strip_prefix("sample ") {
            let mut it = rest.splitn(3, ' ');
            let (Some(i), Some(off), Some(list)) = (it.next(), it.next(), it.next()) else {
                panic!("bad sample line {line:?}")
            };
            let (i, off): (usize, usize) = (i.parse().unwrap(), off.parse().unwrap());
            let s = run.samples.entry(i).or_default();
            assert_eq!(s.len(), off, "sample {i}: chunks in order");
            s.extend(
                list.trim_matches(|c| c == '[' || c == ']')
                    .split(", ")
                    .map(|v| v.parse::<u32>().unwrap()),
            );
        } else if let Some(rest) = line.strip_prefix("op ") {
            let f: Vec<&str> = rest.split_whitespace().collect();
            run.ops.push(OpCost {
                index: f[0].parse().unwrap(),
                kind: f[1].to_string(),
                macs: f[2].parse().unwrap(),
                instructions: f[4].parse().unwrap(),
            });
        } else if line.starts_with("model ") {
            run.macs = number_before(line, "MACs per evaluation").unwrap();
        } else if line.starts_with("instructions:") {
            run.per_evaluation = number_after(line, "instructions:").unwrap();
            run.evaluations = number_after(line, "(").unwrap();
            run.per_sample = number_before(line, "per sample").unwrap();
        } else if line.starts_with("ram:") {
            run.stack = number_after(line, "stack high-water").unwrap();
        }
    }
    run
}

/// The cores `scripts/firmware.sh --core` builds for, from `scripts/cores.sh`.
pub fn cores() -> Vec<String> {
    let path = root().join("scripts/cores.sh");
    let text = std::fs::read_to_string(&path).expect("scripts/cores.sh");
    text.lines()
        .find_map(|l| l.strip_prefix("CORES=\""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap_or_else(|| panic!("{}: no CORES=\"...\" line", path.display()))
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// Builds the firmware for a shipped model and a core and runs it under QEMU: the parsed run,
/// the ELF and the raw log.
pub fn run(core: &str, model: &str, seed: u64, samples: usize) -> (Run, PathBuf, String) {
    run_with(core, model, seed, samples, &[])
}

/// [`run`] with the pack `pack` instead of a shipped model's.
pub fn run_pack(core: &str, pack: &Path, seed: u64, samples: usize) -> (Run, PathBuf, String) {
    let path = pack.display().to_string();
    run_with(core, "two-moons", seed, samples, &["--pack", &path])
}

/// [`run`], denoising the signals of the CSV `init` (which carry Gaussian noise of standard
/// deviation `noise_std`) instead of sampling from noise.
pub fn run_denoising(
    core: &str,
    model: &str,
    seed: u64,
    samples: usize,
    init: &Path,
    noise_std: f32,
) -> (Run, PathBuf, String) {
    let (path, std) = (init.display().to_string(), noise_std.to_string());
    run_with(
        core,
        model,
        seed,
        samples,
        &["--init", &path, "--noise-std", &std],
    )
}

/// The firmware's on-device kernel check (feature `kernel-check`) on a core: outputs compared
/// and mismatches between the optimized (DSP where the core has it) and reference conv/linear
/// kernels.
pub fn kernel_check(core: &str) -> (u64, u64) {
    let (_, _, log) = run_with(core, "digits-mlp", 0, 1, &["--features", "kernel-check"]);
    let line = log
        .lines()
        .find(|l| l.starts_with("kernel check:"))
        .unwrap_or_else(|| panic!("no kernel check line in\n{log}"));
    (
        number_after(line, "kernel check:").unwrap(),
        number_before(line, "mismatches").unwrap(),
    )
}

fn run_with(
    core: &str,
    model: &str,
    seed: u64,
    samples: usize,
    flags: &[&str],
) -> (Run, PathBuf, String) {
    let script = root().join("scripts/firmware.sh");
    let go = |extra: &[&str]| {
        let out = Command::new(&script)
            .args([
                "--core",
                core,
                "--model",
                model,
                "--seed",
                &seed.to_string(),
            ])
            .args(["--samples", &samples.to_string()])
            .args(flags)
            .args(extra)
            .output()
            .expect("scripts/firmware.sh runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{model} on {core}: scripts/firmware.sh failed ({})\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let elf = PathBuf::from(go(&["--build-only"]).trim());
    let log = go(&[]);
    (parse(&log), elf, log)
}

/// Section sizes of an ELF, from binutils' `size -A`.
pub fn sections(elf: &Path) -> BTreeMap<String, u64> {
    let out = Command::new("size")
        .arg("-A")
        .arg(elf)
        .output()
        .expect("binutils' size runs");
    assert!(out.status.success(), "size -A {}", elf.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (name, size) = (it.next()?, it.next()?.parse().ok()?);
            name.starts_with('.').then(|| (name.to_string(), size))
        })
        .collect()
}

/// Flash and RAM of a firmware build for `pack` (bytes): `.text` (with the vector table),
/// `.rodata` without the pack, the pack, `.data`, `.bss`.
pub fn footprint(elf: &Path, pack: u64) -> [(&'static str, u64); 5] {
    let s = sections(elf);
    let sec = |n: &str| s.get(n).copied().unwrap_or(0);
    [
        ("text", sec(".vector_table") + sec(".text")),
        ("rodata", sec(".rodata").saturating_sub(pack)),
        ("weights", pack),
        ("data", sec(".data")),
        ("bss", sec(".bss") + sec(".uninit")),
    ]
}
