//! The firmware on QEMU's Cortex-M4F (mps2-an386) against `edgediff sample --engine runtime`
//! on the host, for every shipped model:
//!
//! - the samples are bit-identical (same pack, sampler and seed);
//! - flash (`.text`, `.rodata`, weights), RAM (`.data`, `.bss`, arena, stack high-water) and
//!   the instructions per network evaluation stay within `firmware/size-budget.txt` (+5%).
//!   `EDGEDIFF_BLESS=1` rewrites the budget from the measured figures.
//!
//! `scripts/firmware.sh` builds and runs the firmware; it provisions the cross toolchain, QEMU
//! and defmt-print when they are missing.

use clap::Parser;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const SEED: u64 = 3;
const SAMPLES: usize = 3;
/// Allowed growth over the committed budget.
const SLACK: f64 = 1.05;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// What the firmware printed.
#[derive(Debug, Default)]
struct Run {
    /// Each sample's `f32` bit patterns.
    samples: BTreeMap<usize, Vec<u32>>,
    macs: u64,
    per_evaluation: u64,
    evaluations: u64,
    per_sample: u64,
    stack: u64,
}

/// The number after `key` in `line` (`key` ends where the number starts).
fn number_after(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn number_before(line: &str, key: &str) -> Option<u64> {
    let head = &line[..line.find(key)?];
    let digits: String = head
        .trim_end()
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().ok()
}

fn parse(log: &str) -> Run {
    let mut run = Run::default();
    for line in log.lines() {
        if let Some(rest) = line.strip_prefix("sample ") {
            let mut it = rest.splitn(3, ' ');
            let (i, off, list) = (it.next(), it.next(), it.next());
            let (Some(i), Some(off), Some(list)) = (i, off, list) else {
                panic!("bad sample line {line:?}")
            };
            let i: usize = i.parse().unwrap();
            let off: usize = off.parse().unwrap();
            let bits = list
                .trim_matches(|c| c == '[' || c == ']')
                .split(", ")
                .map(|v| v.parse::<u32>().unwrap());
            let s = run.samples.entry(i).or_default();
            assert_eq!(s.len(), off, "sample {i}: chunks in order");
            s.extend(bits);
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

fn firmware(model: &str) -> (Run, PathBuf) {
    let script = root().join("scripts/firmware.sh");
    let run = |extra: &[&str]| {
        let out = Command::new(&script)
            .args(["--model", model, "--seed", &SEED.to_string()])
            .args(["--samples", &SAMPLES.to_string()])
            .args(extra)
            .output()
            .expect("scripts/firmware.sh runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{model}: scripts/firmware.sh failed ({})\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let elf = PathBuf::from(run(&["--build-only"]).trim());
    let log = run(&[]);
    println!("{log}");
    (parse(&log), elf)
}

/// `edgediff sample --engine runtime` on the host, as the bit patterns of its CSV.
fn host(model: &str) -> BTreeMap<usize, Vec<u32>> {
    let pack = root().join("models").join(model).join("model.pack");
    let csv = std::env::temp_dir().join(format!("edgediff-fw-{model}-{}.csv", std::process::id()));
    let cli = edgediff::cli::Cli::try_parse_from([
        "edgediff".as_ref(),
        "sample".as_ref(),
        "--engine".as_ref(),
        "runtime".as_ref(),
        "--model".as_ref(),
        pack.as_os_str(),
        "--seed".as_ref(),
        SEED.to_string().as_ref(),
        "--samples".as_ref(),
        SAMPLES.to_string().as_ref(),
        "--out".as_ref(),
        csv.as_os_str(),
        "--force".as_ref(),
    ])
    .unwrap();
    edgediff::cli::run(cli).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    std::fs::remove_file(&csv).ok();
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            l.split(',')
                .map(|v| v.trim().parse::<f32>().unwrap().to_bits())
                .collect()
        })
        .enumerate()
        .collect()
}

/// Section sizes of an ELF, from binutils' `size -A`.
fn sections(elf: &Path) -> BTreeMap<String, u64> {
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

/// `(model, figure) -> value` from the budget file.
fn read_budget(path: &Path) -> BTreeMap<(String, String), u64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 3, "{}: bad line {l:?}", path.display());
            ((f[0].into(), f[1].into()), f[2].parse().unwrap())
        })
        .collect()
}

#[test]
fn firmware_samples_bit_identical_to_the_host_runtime_within_size_budget() {
    let budget_path = root().join("firmware/size-budget.txt");
    let budget = read_budget(&budget_path);
    let mut measured: Vec<((String, String), u64)> = vec![];
    let mut over = vec![];
    for m in edgediff::cli::demo::SHIPPED {
        let (run, elf) = firmware(m.name);
        let want = host(m.name);
        assert_eq!(run.samples.len(), SAMPLES, "{}: samples printed", m.name);
        assert_eq!(
            run.samples, want,
            "{}: firmware samples differ from `edgediff sample --engine runtime`",
            m.name
        );
        let s = sections(&elf);
        let pack = std::fs::metadata(root().join("models").join(m.name).join("model.pack"))
            .unwrap()
            .len();
        let arena = edgediff_runtime::pack::Pack::parse(
            &std::fs::read(root().join("models").join(m.name).join("model.pack")).unwrap(),
        )
        .unwrap()
        .arena_bytes() as u64;
        let sec = |n: &str| s.get(n).copied().unwrap_or(0);
        let figures = [
            ("text", sec(".vector_table") + sec(".text")),
            ("rodata", sec(".rodata") - pack),
            ("weights", pack),
            ("data", sec(".data")),
            ("bss", sec(".bss") + sec(".uninit")),
            ("arena", arena),
            ("stack", run.stack),
            ("instructions-per-evaluation", run.per_evaluation),
        ];
        println!(
            "{}: {} instructions per evaluation ({:.2} per MAC over {} MACs), {} per sample, {} evaluations",
            m.name,
            run.per_evaluation,
            run.per_evaluation as f64 / run.macs as f64,
            run.macs,
            run.per_sample,
            run.evaluations
        );
        for (figure, value) in figures {
            let key = (m.name.to_string(), figure.to_string());
            match budget.get(&key) {
                Some(&b) if value as f64 > b as f64 * SLACK => {
                    over.push(format!("{} {figure}: {value} > budget {b} + 5%", m.name))
                }
                None => over.push(format!("{} {figure}: no budget", m.name)),
                _ => {}
            }
            println!("  {figure:<28} {value:>9}");
            measured.push((key, value));
        }
    }
    if std::env::var_os("EDGEDIFF_BLESS").is_some() {
        let mut text = String::from(
            "# Firmware size and cost budget per shipped model, checked by tests/tests/firmware_qemu.rs:\n\
             # a figure may grow at most 5% over this. Bytes, except the executed instructions per\n\
             # network evaluation under QEMU -icount. Rewrite with EDGEDIFF_BLESS=1 after an\n\
             # intended change.\n",
        );
        for ((model, figure), v) in &measured {
            text.push_str(&format!("{model:<14} {figure:<28} {v}\n"));
        }
        std::fs::write(&budget_path, text).unwrap();
        return;
    }
    assert!(
        over.is_empty(),
        "over the budget in {}:\n{}",
        budget_path.display(),
        over.join("\n")
    );
}
