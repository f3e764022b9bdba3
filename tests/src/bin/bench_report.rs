//! Writes BENCHMARKS.md from the criterion results (run `cargo bench -p edgediff` first;
//! `scripts/bench.sh` does both), the firmware under QEMU and the packs.

use edgediff::onnx::read_model;
use edgediff::pipeline::pack_for_plan;
use edgediff::pipeline::{SHIPPED, sampler_args};
use edgediff_runtime::pack::Pack;
use edgediff_tests::firmware::{self, root};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// Median time in ns of every criterion benchmark, by full id.
fn criterion_medians(dir: &Path) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.ends_with("new/benchmark.json") {
                let read = |f: &Path| -> Option<serde_json::Value> {
                    serde_json::from_str(&std::fs::read_to_string(f).ok()?).ok()
                };
                let (Some(b), Some(est)) = (read(&p), read(&p.with_file_name("estimates.json")))
                else {
                    continue;
                };
                if let (Some(id), Some(ns)) = (
                    b["full_id"].as_str(),
                    est["median"]["point_estimate"].as_f64(),
                ) {
                    out.insert(id.to_string(), ns);
                }
            }
        }
    }
    out
}

/// The median of one network evaluation of `model` through `engine` at `batch`.
fn eval_median(
    medians: &BTreeMap<String, f64>,
    model: &str,
    engine: &str,
    batch: usize,
) -> Option<f64> {
    medians
        .get(&format!("eval/{model}/{engine}/{batch}"))
        .copied()
}

fn time(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.1} µs", ns / 1e3)
    }
}

fn main() {
    let medians = criterion_medians(&root().join("target/criterion"));
    if medians.is_empty() {
        eprintln!(
            "no criterion results under target/criterion: run `cargo bench -p edgediff` first"
        );
        std::process::exit(1);
    }
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut md = String::new();
    let w = &mut md;
    writeln!(w, "# Benchmarks\n").unwrap();
    writeln!(
        w,
        "Written by `scripts/bench.sh` (criterion medians, then `cargo run -p edgediff-tests \
         --bin bench-report`). Desktop: {cpu}, {cores} cores, shared and noisy, so compare \
         ratios within this run. Cortex-M4: instructions executed under QEMU `-icount shift=0` \
         (deterministic, SysTick x 40).\n"
    )
    .unwrap();

    writeln!(w, "## Desktop (x86_64): one network evaluation\n").unwrap();
    writeln!(
        w,
        "Middle sampling step; a guided model (digits-unet) evaluates twice per sample in every \
         engine. Ratios: tract time / runtime-optimized time (higher is better for the runtime).\n"
    )
    .unwrap();
    writeln!(w, "| model | batch | runtime reference | runtime optimized | tract int8 | tract float | vs tract int8 | vs tract float |").unwrap();
    writeln!(w, "|---|---|---|---|---|---|---|---|").unwrap();
    for m in SHIPPED {
        for batch in [1, 64] {
            let get = |e: &str| eval_median(&medians, m.name, e, batch);
            let (Some(r), Some(o), Some(ti), Some(tf)) = (
                get("runtime-reference"),
                get("runtime-optimized"),
                get("tract-int8"),
                get("tract-float"),
            ) else {
                continue;
            };
            writeln!(
                w,
                "| {} | {batch} | {} | {} | {} | {} | {:.2}x | {:.2}x |",
                m.name,
                time(r),
                time(o),
                time(ti),
                time(tf),
                ti / o,
                tf / o
            )
            .unwrap();
        }
    }

    writeln!(
        w,
        "\nTargets (batch 1 and 64): at least 2x faster than tract int8, and faster than tract float.\n"
    )
    .unwrap();
    let mut all_met = true;
    for m in SHIPPED {
        for batch in [1, 64] {
            let get = |e: &str| eval_median(&medians, m.name, e, batch);
            if let (Some(o), Some(ti), Some(tf)) = (
                get("runtime-optimized"),
                get("tract-int8"),
                get("tract-float"),
            ) {
                all_met &= ti / o >= 2.0 && tf / o > 1.0;
                let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
                writeln!(
                    w,
                    "- {} batch {batch}: {:.2}x tract int8 ({}), {:.2}x tract float ({})",
                    m.name,
                    ti / o,
                    verdict(ti / o >= 2.0),
                    tf / o,
                    verdict(tf / o > 1.0)
                )
                .unwrap();
            }
        }
    }
    let limits = if all_met {
        "\nAll met in this run. The margins against tract float are thin for the digits \
         models (a few percent at batch 64), so a noisy machine can flip them. There the \
         convolutions have 8 to 24 channels on 8x8 or 4x4 planes, so each output channel's \
         dot product is only 9 to 216 taps long and the per-output work (the im2col gather, \
         the f32 requantization that keeps the result bit-identical with tract) weighs as \
         much as the multiply-adds; GroupNorm and the requantizing adds take most of the rest \
         (profile below). The dot product is compiled for AVX2 and picked at run time; on the \
         x86-64 baseline (SSE2) the runtime was about half as fast on the U-Net."
    } else {
        "\nWhat limits the digits models: most of the U-Net's time is in its convolutions, \
         which have 8 to 24 channels on 8x8 or 4x4 planes, so each output channel's dot \
         product is only 9 to 216 taps long and the per-output work (the im2col gather, the \
         f32 requantization that keeps the result bit-identical with tract) weighs as much as \
         the multiply-adds; GroupNorm and the requantizing adds take most of the rest (profile \
         below). tract's float path runs hand-written AVX2/FMA kernels; the runtime's portable \
         code gets AVX2 only through the compiler (the dot product is compiled for AVX2 and \
         picked at run time)."
    };
    writeln!(w, "{limits}").unwrap();
    writeln!(
        w,
        "\n## Desktop: one full sample of two-moons per sampler\n"
    )
    .unwrap();
    writeln!(
        w,
        "| sampler | evaluations | runtime | tract int8 | vs tract int8 | runtime per evaluation |"
    )
    .unwrap();
    writeln!(w, "|---|---|---|---|---|---|").unwrap();
    for (name, evals) in [
        ("ddpm-1000", 1000),
        ("ddim-50", 50),
        ("ddim-20", 20),
        ("dpmpp-20", 20),
        ("dpmpp-10", 10),
        ("euler-20", 20),
    ] {
        let get = |e: &str| {
            medians
                .get(&format!("sample/two-moons/{e}/{name}"))
                .copied()
        };
        if let (Some(r), Some(t)) = (get("runtime"), get("tract-int8")) {
            writeln!(
                w,
                "| {name} | {evals} | {} | {} | {:.1}x | {} |",
                time(r),
                time(t),
                t / r,
                time(r / f64::from(evals))
            )
            .unwrap();
        }
    }

    writeln!(w, "\n## Cortex-M4F (QEMU mps2-an386)\n").unwrap();
    writeln!(w, "| model | MACs / evaluation | instructions / evaluation | per MAC (whole network) | conv + linear per MAC | per sample | .text | .rodata | pack (flash) | .bss | arena | stack high-water |").unwrap();
    writeln!(w, "|---|---|---|---|---|---|---|---|---|---|---|---|").unwrap();
    let mut layers = String::new();
    for m in SHIPPED {
        let (run, elf, _) = firmware::run(m.name, 0, 1);
        let bytes = std::fs::read(root().join("models").join(m.name).join("model.pack")).unwrap();
        let pack = Pack::parse(&bytes).unwrap();
        let f: BTreeMap<_, _> = firmware::footprint(&elf, bytes.len() as u64)
            .into_iter()
            .collect();
        let (conv_i, conv_m) = run
            .ops
            .iter()
            .filter(|o| o.macs > 0)
            .fold((0, 0), |(i, m), o| (i + o.instructions, m + o.macs));
        writeln!(
            w,
            "| {} | {} | {} | {:.2} | {:.2} | {} | {} | {} | {} | {} | {} | {} |",
            m.name,
            run.macs,
            run.per_evaluation,
            run.per_evaluation as f64 / run.macs as f64,
            conv_i as f64 / conv_m.max(1) as f64,
            run.per_sample,
            f["text"],
            f["rodata"],
            f["weights"],
            f["bss"],
            pack.arena_bytes(),
            run.stack
        )
        .unwrap();
        writeln!(layers, "\n{} (step 0, op by op):\n", m.name).unwrap();
        writeln!(layers, "| op | kind | MACs | instructions | per MAC |").unwrap();
        writeln!(layers, "|---|---|---|---|---|").unwrap();
        for o in &run.ops {
            let per = if o.macs > 0 {
                format!("{:.2}", o.instructions as f64 / o.macs as f64)
            } else {
                "-".into()
            };
            writeln!(
                layers,
                "| {} | {} | {} | {} | {per} |",
                o.index, o.kind, o.macs, o.instructions
            )
            .unwrap();
        }
    }
    writeln!(
        w,
        "\nTarget: conv and linear layers of the digits models at most 1.5 instructions per \
         MAC. NOT met: see the per-op tables (about 5.4 to 6.7 for the 64- and 192-wide \
         linear layers and the 3x3 convs; up to 27 for the U-Net's 1-channel input and output \
         convs). The SMLAD inner loop itself is 9 instructions per 4 MACs (2 loads of patch \
         pairs, 1 of weights, 2 SXTB16, 2 SMLAD, 2 of loop control: 2.25 per MAC); the rest is \
         per output: the im2col gather of each pixel's patch, repeated per block of 32 output \
         channels, and the f32 requantization (about 40 instructions, kept in f32 so that the \
         device matches tract and the desktop bit for bit). Reaching 1.5 needs 2x2 output \
         blocking written in asm, CMSIS-NN style, weights pre-interleaved by the compiler so \
         that SXTB16 leaves the inner loop, and an integer requantization with the same \
         rounding."
    )
    .unwrap();
    writeln!(w, "{layers}").unwrap();

    writeln!(w, "## How time and memory grow\n").unwrap();
    writeln!(w, "Two-moons compiled for more steps: the pack grows by one 44-byte step row (plus embedding and quantization rows) per step; the arena and the sampler state do not change, so peak RAM is constant in the number of steps. Time per evaluation is flat across samplers (table above), so time is linear in steps.\n").unwrap();
    writeln!(
        w,
        "| steps (DDIM) | pack bytes | arena bytes | sampler state bytes / sample |"
    )
    .unwrap();
    writeln!(w, "|---|---|---|---|").unwrap();
    let proto = read_model(&root().join("models/two-moons/float.onnx")).unwrap();
    for steps in [10, 20, 50, 100, 250] {
        let args = sampler_args(&format!(
            "--sampler ddim --steps {steps} --spacing linspace"
        ));
        let p = args.resolve().unwrap().plan().unwrap();
        let calib = edgediff::quantize::calibrate::CalibConfig::new(16);
        let bytes = pack_for_plan(&proto, "two-moons", &p, &calib, None).unwrap();
        let pack = Pack::parse(&bytes).unwrap();
        writeln!(
            w,
            "| {steps} | {} | {} | {} |",
            bytes.len(),
            pack.arena_bytes(),
            pack.state_bytes()
        )
        .unwrap();
    }
    writeln!(
        w,
        "\nBatch: the runtime evaluates a batch sample by sample in one arena, so RAM grows only \
         by the sampler state (`x_t`, output and history: up to 12 bytes per value) and time \
         linearly:"
    )
    .unwrap();
    for m in SHIPPED {
        let get = |b: usize| eval_median(&medians, m.name, "runtime-optimized", b);
        if let (Some(one), Some(many)) = (get(1), get(64)) {
            writeln!(
                w,
                "- {}: batch 64 takes {:.0}x batch 1.",
                m.name,
                many / one
            )
            .unwrap();
        }
    }
    writeln!(
        w,
        "\nModel size: see MACs against time per evaluation in the first table."
    )
    .unwrap();

    let profile = root().join("target/bench-profile.txt");
    if let Ok(p) = std::fs::read_to_string(&profile) {
        writeln!(
            w,
            "\n## Where the time goes (perf, digits-unet, 100 samples)\n\n```text\n{}```",
            p
        )
        .unwrap();
    }
    std::fs::write(root().join("BENCHMARKS.md"), md).unwrap();
    println!("wrote BENCHMARKS.md");
}
