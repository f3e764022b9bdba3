#!/usr/bin/env bash
# Runs the criterion benches, profiles the U-Net with perf (when perf works here), runs the
# firmware under QEMU, and writes BENCHMARKS.md. Takes about 10 minutes on 2 cores.
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
cargo run --release -p edgediff-tests --bin bench-report
