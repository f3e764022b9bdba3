#!/usr/bin/env bash
# Runs the criterion benches, profiles the U-Net with perf (when perf works here), runs the
# firmware under QEMU, times onnxruntime (scripts/bench-onnxruntime.py) and writes
# BENCHMARKS.md, with the CMSIS-NN columns when scripts/cmsis-nn.sh has run. Takes about 15
# minutes on 2 cores.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo bench -p edgediff --bench engines
cargo build --release -p edgediff
if perf record -q -o target/bench-perf.data ./target/release/edgediff sample \
    --model models/digits-unet/model.pack -n 100 --out target/bench-unet.csv --force >/dev/null 2>&1; then
  perf report -i target/bench-perf.data --no-children --percent-limit 1 --stdio 2>/dev/null \
    | grep -E '^ +[0-9]' > target/bench-profile.txt || true
fi
# onnxruntime on the same models, when a Python with it is at hand (EDGEDIFF_PYTHON).
"${EDGEDIFF_PYTHON:-python3}" scripts/bench-onnxruntime.py \
  || echo "bench.sh: no onnxruntime timings (needs numpy and onnxruntime)" >&2
cargo run --release -p edgediff-tests --bin bench-report
