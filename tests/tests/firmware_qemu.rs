//! The firmware under QEMU, on every core of `scripts/cores.sh` (Cortex-M0+, M3, M4F, M7,
//! M33), against `edgediff sample --engine runtime` on the host, for every shipped model:
//!
//! - the optimized conv/linear kernels (SMLAD on the cores with the DSP extension) equal the
//!   reference kernels on the device, on 300 random layers;
//! - the samples are bit-identical (same pack, sampler and seed) on every core, soft-float
//!   ones included;
//! - flash (`.text`, `.rodata`, weights), RAM (`.data`, `.bss`, arena, stack high-water) and
//!   the instructions per network evaluation stay within `firmware/size-budget.txt` (+5%),
//!   per core. `EDGEDIFF_BLESS=1` rewrites the budget from the measured figures.
//!
//! `scripts/firmware.sh` builds and runs the firmware; it provisions the cross toolchain, QEMU
//! and defmt-print when they are missing.

use clap::Parser;
use edgediff::data::ecg;
use edgediff::pipeline::ShippedData;
use edgediff_tests::firmware::{self, root};
use std::collections::BTreeMap;
use std::path::Path;

const SEED: u64 = 3;
const SAMPLES: usize = 3;
/// Allowed growth over the committed budget.
const SLACK: f64 = 1.05;

/// `edgediff sample --engine runtime` on the host (with `extra` options), as the bit
/// patterns of its CSV.
fn host(model: &str, extra: &[&str]) -> BTreeMap<usize, Vec<u32>> {
    host_pack(&root().join("models").join(model).join("model.pack"), extra)
}

/// [`host`] for the pack `pack`.
fn host_pack(pack: &Path, extra: &[&str]) -> BTreeMap<usize, Vec<u32>> {
    let name = pack.file_stem().unwrap().to_string_lossy();
    let csv = std::env::temp_dir().join(format!("edgediff-fw-{name}-{}.csv", std::process::id()));
    let (seed, samples) = (SEED.to_string(), SAMPLES.to_string());
    let args = [
        "sample",
        "--engine",
        "runtime",
        "--model",
        pack.to_str().unwrap(),
        "--seed",
        &seed,
        "--samples",
        &samples,
        "--out",
        csv.to_str().unwrap(),
        "--force",
    ];
    let cli = edgediff::cli::Cli::try_parse_from(
        std::iter::once("edgediff").chain(args.into_iter().chain(extra.iter().copied())),
    )
    .unwrap();
    edgediff::cli::run(cli).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    std::fs::remove_file(&csv).ok();
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.split(',')
                .map(|v| v.trim().parse::<f32>().unwrap().to_bits())
                .collect()
        })
        .enumerate()
        .collect()
}

/// The firmware denoises noisy recordings (`--init --noise-std`) on `core` to the bits of
/// `edgediff sample --engine runtime --init --noise-std`.
fn denoises_like_the_host(core: &str, model: &str) {
    let clean = ecg::signals(SAMPLES, 40);
    let noisy = ecg::recorded(&clean, 41);
    let csv = std::env::temp_dir().join(format!("edgediff-fw-noisy-{}.csv", std::process::id()));
    let text: String = noisy
        .chunks(ecg::LEN)
        .map(|s| s.iter().map(f32::to_string).collect::<Vec<_>>().join(",") + "\n")
        .collect();
    std::fs::write(&csv, text).unwrap();
    let std = ecg::recording_std();
    let (run, _, log) = firmware::run_denoising(core, model, SEED, SAMPLES, &csv, std);
    let want = host(
        model,
        &[
            "--init",
            csv.to_str().unwrap(),
            "--noise-std",
            &std.to_string(),
        ],
    );
    std::fs::remove_file(&csv).ok();
    assert_eq!(
        run.samples, want,
        "{model} on {core}: firmware denoising differs\n{log}"
    );
    let out: Vec<f32> = run
        .samples
        .values()
        .flatten()
        .map(|b| f32::from_bits(*b))
        .collect();
    println!(
        "{model} on {core}: denoised {SAMPLES} recordings on the device, bit-identical with the \
         host; RMS \
         error to the clean signals {:.4} -> {:.4}; {} instructions per evaluation, {} \
         evaluations",
        ecg::rms_error(&noisy, &clean),
        ecg::rms_error(&out, &clean),
        run.per_evaluation,
        run.evaluations
    );
}

/// A budget key: core, model, figure.
type Key = (String, String, String);

/// `(core, model, figure) -> value` from the budget file.
fn read_budget(path: &Path) -> BTreeMap<Key, u64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 4, "{}: bad line {l:?}", path.display());
            (
                (f[0].into(), f[1].into(), f[2].into()),
                f[3].parse().unwrap(),
            )
        })
        .collect()
}

/// A step table that weighs three earlier predictions (UniPC 3, extra history coefficients in
/// every row) samples on the device with the host's bits.
#[test]
fn firmware_multistep_history_bit_identical_to_the_host() {
    let d = std::env::temp_dir().join(format!("edgediff-fw-unipc-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let pack = d.join("unipc3.pack");
    let int8 = root().join("models/two-moons/int8.onnx");
    let args = [
        "compile",
        "--model",
        int8.to_str().unwrap(),
        "--out",
        pack.to_str().unwrap(),
        "--sampler",
        "unipc",
        "--solver-order",
        "3",
        "--steps",
        "20",
    ];
    let cli = edgediff::cli::Cli::try_parse_from(std::iter::once("edgediff").chain(args)).unwrap();
    edgediff::cli::run(cli).unwrap();
    let bytes = std::fs::read(&pack).unwrap();
    let parsed = edgediff_runtime::pack::Pack::parse(&bytes).unwrap();
    assert_eq!(parsed.meta().extra_history, 2);
    let (run, _, log) = firmware::run_pack("m4", &pack, SEED, SAMPLES);
    assert_eq!(run.samples, host_pack(&pack, &[]), "UniPC 3 pack:\n{log}");
    println!(
        "UniPC 3 (history of 3 predictions): firmware bit-identical, {} evaluations",
        run.evaluations
    );
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn firmware_samples_bit_identical_to_the_host_runtime_within_size_budget() {
    let budget_path = root().join("firmware/size-budget.txt");
    let budget = read_budget(&budget_path);
    let mut measured: Vec<(Key, u64)> = vec![];
    let mut over = vec![];
    let mut hosts = BTreeMap::new();
    for core in firmware::cores() {
        // The optimized kernels against the reference kernels, on the device (the
        // bit-identical samples below check them again end to end).
        let (outputs, mismatches) = firmware::kernel_check(&core);
        println!("{core}: on-device kernel check: {outputs} outputs, {mismatches} mismatches");
        assert!(
            outputs > 10_000 && mismatches == 0,
            "{core}: {mismatches} of {outputs}"
        );
        for m in edgediff::pipeline::SHIPPED {
            let (run, elf, log) = firmware::run(&core, m.name, SEED, SAMPLES);
            println!("{log}");
            assert_eq!(
                run.samples.len(),
                SAMPLES,
                "{} on {core}: samples printed",
                m.name
            );
            let want = hosts.entry(m.name).or_insert_with(|| host(m.name, &[]));
            assert_eq!(
                &run.samples, want,
                "{} on {core}: firmware samples differ from `edgediff sample --engine runtime`",
                m.name
            );
            let pack_path = root().join("models").join(m.name).join("model.pack");
            let bytes = std::fs::read(&pack_path).unwrap();
            let arena = edgediff_runtime::pack::Pack::parse(&bytes)
                .unwrap()
                .arena_bytes() as u64;
            let mut figures = firmware::footprint(&elf, bytes.len() as u64).to_vec();
            figures.extend([
                ("arena", arena),
                ("stack", run.stack),
                ("instructions-per-evaluation", run.per_evaluation),
            ]);
            println!(
                "{} on {core}: {} instructions per evaluation ({:.2} per MAC over {} MACs), {} \
                 per sample, {} evaluations",
                m.name,
                run.per_evaluation,
                run.per_evaluation as f64 / run.macs as f64,
                run.macs,
                run.per_sample,
                run.evaluations
            );
            if m.data == ShippedData::Signals {
                denoises_like_the_host(&core, m.name);
            }
            for (figure, value) in figures {
                let key = (core.clone(), m.name.to_string(), figure.to_string());
                match budget.get(&key) {
                    Some(&b) if value as f64 > b as f64 * SLACK => over.push(format!(
                        "{core} {} {figure}: {value} > budget {b} + 5%",
                        m.name
                    )),
                    None => over.push(format!("{core} {} {figure}: no budget", m.name)),
                    _ => {}
                }
                println!("  {figure:<28} {value:>9}");
                measured.push((key, value));
            }
        }
    }
    if std::env::var_os("EDGEDIFF_BLESS").is_some() {
        let mut text = String::from(
            "# Firmware size and cost budget per core and shipped model, checked by\n\
             # tests/tests/firmware_qemu.rs: a figure may grow at most 5% over this. Bytes, except\n\
             # the executed instructions per network evaluation under QEMU -icount. Rewrite with\n\
             # EDGEDIFF_BLESS=1 after an intended change.\n",
        );
        for ((core, model, figure), v) in &measured {
            text.push_str(&format!("{core:<7} {model:<14} {figure:<28} {v}\n"));
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
