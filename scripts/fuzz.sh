#!/usr/bin/env bash
# Runs one fuzz target (or all) with cargo-fuzz on the nightly toolchain.
#
# usage: scripts/fuzz.sh [TARGET|all] [SECONDS]      (default: all, 600 s each)
#
# Targets: pack, sampler_config, onnx_import, inspect (fuzz/src/*.rs). New corpus entries go
# to fuzz/corpus/TARGET, crashes to fuzz/artifacts/TARGET; copy a crash into
# fuzz/regressions/TARGET/ so that `cargo test -p edgediff-fuzz` replays it from then on.
# Installs cargo-fuzz into target/tools when missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
which="${1:-all}"
secs="${2:-600}"
export PATH="$root/target/tools/bin:$PATH"
if ! command -v cargo-fuzz >/dev/null; then
  cargo install --locked --quiet cargo-fuzz --root "$root/target/tools"
fi
targets=(pack sampler_config onnx_import inspect)
[ "$which" = all ] || targets=("$which")
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/seeds/$t"
  # Seeds: fuzz/seeds/TARGET, plus the shipped models (packs and ONNX files) for the
  # byte-level targets.
  seeds=("fuzz/seeds/$t")
  [ "$t" = sampler_config ] || seeds+=(models/two-moons models/digits-mlp models/digits-unet models/digits-attn)
  echo "==> fuzz $t for ${secs}s"
  # -close_fd_mask=1: `inspect` prints; -rss_limit_mb bounds a hostile model's allocations.
  cargo +nightly fuzz run --fuzz-dir fuzz --features libfuzzer "$t" \
    "fuzz/corpus/$t" "${seeds[@]}" -- \
    -max_total_time="$secs" -close_fd_mask=1 -rss_limit_mb=4096 -timeout=30 -print_final_stats=1 \
    2>&1 | tee "target/fuzz-$t.log" | grep -E "^(#[0-9]+\s+DONE|stat::number_of_executed_units|==[0-9]+==|SUMMARY|Done)" || true
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "fuzz $t: crashed, see target/fuzz-$t.log" >&2; exit 1; }
done
