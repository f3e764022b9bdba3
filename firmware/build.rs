//! Configures the firmware from environment variables and checks the model fits the board.
//!
//! - `EDGEDIFF_PACK`: the model pack to embed in flash (default: the shipped two-moons pack).
//! - `EDGEDIFF_SEED` (0), `EDGEDIFF_SAMPLES` (4), `EDGEDIFF_LABEL` (default: labels 0, 1, ...
//!   in turn for a conditional model, as `edgediff sample` does).
//! - `EDGEDIFF_INIT`: a CSV of `EDGEDIFF_SAMPLES` signals (one per line) to start from
//!   instead of noise, with `EDGEDIFF_NOISE_STD` (denoise signals carrying that much noise) or
//!   `EDGEDIFF_STRENGTH` (SDEdit), as `edgediff sample --init --noise-std | --strength`.
//! - `EDGEDIFF_STACK_BYTES` (16384): RAM kept for the stack when checking the budget.
//! - `EDGEDIFF_MEMORY_X` (`memory/mps2.x`): the memory map, a file under this directory,
//!   copied to `memory.x` where cortex-m-rt's (or riscv-rt's) linker script finds it; on the
//!   ESP32-C3 only read for the RAM budget, since esp-hal's scripts have their own.
//! - `EDGEDIFF_CORE` (`m4`) and `EDGEDIFF_INSTRUCTIONS_PER_TICK` (40): the core's name, for
//!   the log, and its QEMU board's instructions per SysTick tick (scripts/cores.sh sets both).
//! - `EDGEDIFF_CMSIS_NN_LIB` (feature `cmsis-nn` only): the CMSIS-NN static library to link.
//!
//! The pack is parsed and validated here, on the host, with the runtime itself: the arena and
//! sampler buffers become `static`s of exactly the recorded size, and the build fails with the
//! numbers when they and the stack do not fit in memory.x's RAM.

use edgediff_runtime::ops::OpSet;
use edgediff_runtime::pack::Pack;
use edgediff_runtime::sampler::{Sampler, SignalStart, noise_step, sdedit_start};
use edgediff_runtime::schedule::StepTable;
use std::path::{Path, PathBuf};
use std::{env, fs};

fn fail(msg: &str) -> ! {
    println!("cargo::error={msg}");
    std::process::exit(1)
}

fn var(name: &str) -> Option<String> {
    println!("cargo::rerun-if-env-changed={name}");
    env::var(name).ok().filter(|v| !v.is_empty())
}

fn number<T: std::str::FromStr>(name: &str, default: T) -> T {
    match var(name) {
        None => default,
        Some(v) => v
            .parse()
            .unwrap_or_else(|_| fail(&format!("{name}={v:?} is not a valid number"))),
    }
}

/// RAM's LENGTH in memory.x (`LENGTH = 256K`, `4M` or a plain number).
fn ram_bytes(memory_x: &Path) -> usize {
    let text = fs::read_to_string(memory_x)
        .unwrap_or_else(|e| fail(&format!("{}: {e}", memory_x.display())));
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("RAM") && l.contains("ORIGIN"))
        .unwrap_or_else(|| fail(&format!("{}: no RAM region", memory_x.display())));
    let len = line
        .split("LENGTH")
        .nth(1)
        .and_then(|r| r.split('=').nth(1))
        .map(|s| {
            s.trim()
                .trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
        })
        .unwrap_or_else(|| fail(&format!("{}: RAM has no LENGTH", memory_x.display())));
    let (digits, mult) = match len.chars().last() {
        Some('K' | 'k') => (&len[..len.len() - 1], 1024),
        Some('M' | 'm') => (&len[..len.len() - 1], 1024 * 1024),
        _ => (len, 1),
    };
    let n: usize = if let Some(hex) = digits.strip_prefix("0x") {
        usize::from_str_radix(hex, 16).ok()
    } else {
        digits.parse().ok()
    }
    .unwrap_or_else(|| fail(&format!("{}: RAM LENGTH {len:?}", memory_x.display())));
    n * mult
}

/// The `EDGEDIFF_INIT` signals (as `f32` bits, `len` values) and how the run starts from them.
fn signal_start<T: StepTable + ?Sized>(table: &T, len: usize) -> (Vec<u32>, Option<SignalStart>) {
    let Some(path) = var("EDGEDIFF_INIT") else {
        return (vec![], None);
    };
    println!("cargo::rerun-if-changed={path}");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
    let values: Vec<u32> = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<f32>()
                .unwrap_or_else(|_| fail(&format!("{path}: {v:?} is not a number")))
                .to_bits()
        })
        .collect();
    if values.len() != len {
        fail(&format!(
            "{path}: {} values, EDGEDIFF_SAMPLES signals of the model need {len}",
            values.len()
        ));
    }
    let steps = table.steps();
    let start = match (var("EDGEDIFF_NOISE_STD"), var("EDGEDIFF_STRENGTH")) {
        (Some(s), None) => s
            .parse()
            .ok()
            .and_then(|s| noise_step(table, s))
            .map(SignalStart::Denoise)
            .unwrap_or_else(|| fail(&format!("EDGEDIFF_NOISE_STD={s:?} must be positive"))),
        (None, Some(s)) => s
            .parse()
            .ok()
            .and_then(|s| sdedit_start(steps, s))
            .map(SignalStart::Edit)
            .unwrap_or_else(|| fail(&format!("EDGEDIFF_STRENGTH={s:?} must be in (0, 1]"))),
        _ => fail("EDGEDIFF_INIT needs one of EDGEDIFF_NOISE_STD and EDGEDIFF_STRENGTH"),
    };
    (values, Some(start))
}

/// Links the CMSIS-NN static library named by `EDGEDIFF_CMSIS_NN_LIB` (feature `cmsis-nn`).
fn link_cmsis_nn() {
    let lib = var("EDGEDIFF_CMSIS_NN_LIB")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            fail("feature cmsis-nn needs EDGEDIFF_CMSIS_NN_LIB=libcmsisnn.a (scripts/cmsis-nn.sh)")
        });
    let (Some(dir), Some(name)) = (lib.parent(), lib.file_stem().and_then(|s| s.to_str())) else {
        fail(&format!(
            "EDGEDIFF_CMSIS_NN_LIB {}: not a library path",
            lib.display()
        ))
    };
    if !lib.is_file() {
        fail(&format!(
            "EDGEDIFF_CMSIS_NN_LIB {}: no such file",
            lib.display()
        ));
    }
    println!("cargo::rerun-if-changed={}", lib.display());
    println!("cargo::rustc-link-search={}", dir.display());
    println!(
        "cargo::rustc-link-lib=static={}",
        name.trim_start_matches("lib")
    );
}

fn main() {
    let cargo_dir = |name| {
        PathBuf::from(env::var(name).unwrap_or_else(|_| fail(&format!("cargo sets {name}"))))
    };
    let dir = cargo_dir("CARGO_MANIFEST_DIR");
    let out = cargo_dir("OUT_DIR");
    let memory_x = dir.join(var("EDGEDIFF_MEMORY_X").unwrap_or_else(|| "memory/mps2.x".into()));
    println!("cargo::rerun-if-changed={}", memory_x.display());
    // esp-hal's linker scripts bring their own memory.x: the map here is the budget's only.
    if env::var_os("CARGO_FEATURE_ESP32C3").is_none() {
        fs::copy(&memory_x, out.join("memory.x"))
            .unwrap_or_else(|e| fail(&format!("copying memory.x to {}: {e}", out.display())));
        println!("cargo::rustc-link-search={}", out.display());
    }
    // ARMv6-M (the Cortex-M0+) has no DWT cycle counter: the `rtt` board counts with SysTick.
    println!("cargo::rustc-check-cfg=cfg(armv6m)");
    if env::var("TARGET").is_ok_and(|t| t.starts_with("thumbv6m")) {
        println!("cargo::rustc-cfg=armv6m");
    }
    if env::var_os("CARGO_FEATURE_CMSIS_NN").is_some() {
        link_cmsis_nn();
    }

    let pack_path = var("EDGEDIFF_PACK")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("../models/two-moons/model.pack"));
    let pack_path = fs::canonicalize(&pack_path)
        .unwrap_or_else(|e| fail(&format!("EDGEDIFF_PACK {}: {e}", pack_path.display())));
    println!("cargo::rerun-if-changed={}", pack_path.display());
    let bytes =
        fs::read(&pack_path).unwrap_or_else(|e| fail(&format!("{}: {e}", pack_path.display())));
    let pack =
        Pack::parse(&bytes).unwrap_or_else(|e| fail(&format!("{}: {e}", pack_path.display())));
    let meta = *pack.meta();

    let seed: u64 = number("EDGEDIFF_SEED", 0);
    let samples: usize = number("EDGEDIFF_SAMPLES", 4);
    if samples == 0 {
        fail("EDGEDIFF_SAMPLES must be at least 1");
    }
    let label: Option<u16> = var("EDGEDIFF_LABEL").map(|v| {
        v.parse()
            .unwrap_or_else(|_| fail(&format!("EDGEDIFF_LABEL={v:?} is not a class index")))
    });
    match (meta.num_classes, label) {
        (0, Some(_)) => fail("EDGEDIFF_LABEL is set, but the model is unconditional"),
        (c, Some(l)) if l >= c => fail(&format!("EDGEDIFF_LABEL={l}: the model has {c} classes")),
        _ => {}
    }
    let labels: Vec<u16> = match (meta.num_classes, label) {
        (0, _) => vec![],
        (_, Some(l)) => vec![l; samples],
        (c, None) => (0..samples).map(|i| (i % usize::from(c)) as u16).collect(),
    };

    let cfg = meta.sampler_config();
    let schedule = pack.schedule();
    let sampler = Sampler::new(&schedule, cfg, meta.sample_len() * samples)
        .unwrap_or_else(|e| fail(&format!("{}: {e}", pack_path.display())));
    let sizes = sampler.state_sizes();
    let (init, start) = signal_start(&schedule, sizes.sample);

    let stack: usize = number("EDGEDIFF_STACK_BYTES", 16 * 1024);
    let core = var("EDGEDIFF_CORE").unwrap_or_else(|| "m4".into());
    let per_tick: u64 = number("EDGEDIFF_INSTRUCTIONS_PER_TICK", 40);
    let ram = ram_bytes(&memory_x);
    let arena = pack.arena_bytes();
    let need = arena + sizes.bytes() + stack;
    if need > ram {
        fail(&format!(
            "{}: {samples} sample(s) need {arena} B arena + {} B sampler state + {stack} B stack \
             = {need} B, but memory.x gives RAM {ram} B",
            pack_path.display(),
            sizes.bytes()
        ));
    }

    // The op kinds the pack uses: the engine links only their code.
    let ops = (0..meta.op_count)
        .filter_map(|i| pack.op(i))
        .fold(0u32, |bits, o| bits | OpSet::of(&[o.kind]).0);
    let model = pack_path
        .parent()
        .and_then(|p| p.file_name())
        .map_or("model".into(), |n| n.to_string_lossy().into_owned());
    let config = format!(
        "/// Name of the model (the pack's folder).\n\
         pub const MODEL: &str = {model:?};\n\
         /// The model pack, in flash.\n\
         pub static PACK: &[u8] = include_bytes!({pack:?});\n\
         /// Arena bytes recorded in the pack.\n\
         pub const ARENA_BYTES: usize = {arena};\n\
         /// Samples drawn as one batch.\n\
         pub const SAMPLES: usize = {samples};\n\
         /// `f32` elements of the batch (`x_t` and the model output).\n\
         pub const SAMPLE_LEN: usize = {sample};\n\
         /// `f32` elements of the multistep history.\n\
         pub const HISTORY_LEN: usize = {history};\n\
         /// Noise seed.\n\
         pub const SEED: u64 = {seed};\n\
         /// Class label of each sample (empty: unconditional).\n\
         pub static LABELS: [u16; {nl}] = {labels:?};\n\
         /// Bytes of RAM the build kept for the stack.\n\
         pub const STACK_BYTES: usize = {stack};\n\
         /// The op kinds of the pack (an `OpSet`): the only ones linked.\n\
         pub const OPS: u32 = {ops:#x};\n\
         /// The signals a run starts from (`f32` bits; empty: pure noise).\n\
         pub static INIT: [u32; {ni}] = {init:?};\n\
         /// How the run starts from `INIT`.\n\
         pub const START: Option<edgediff_runtime::sampler::SignalStart> = {start};\n\
         /// The core built for (scripts/cores.sh).\n\
         pub const CORE: &str = {core:?};\n\
         /// Executed instructions per SysTick tick on the core's QEMU board.\n\
         #[allow(dead_code)]\n\
         pub const INSTRUCTIONS_PER_TICK: u64 = {per_tick};\n",
        pack = pack_path.display().to_string(),
        sample = sizes.sample,
        history = sizes.history,
        nl = labels.len(),
        ni = init.len(),
        start = match start {
            None => "None".to_string(),
            Some(s) => format!("Some(edgediff_runtime::sampler::SignalStart::{s:?})"),
        },
    );
    fs::write(out.join("config.rs"), config)
        .unwrap_or_else(|e| fail(&format!("writing {}: {e}", out.display())));
}
