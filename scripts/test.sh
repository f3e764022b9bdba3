#!/usr/bin/env bash
# The whole test suite (README's test command). Installs nothing by hand: everything it needs
# is provisioned here, so it runs the same on a fresh machine and in CI.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "format"
cargo fmt --all -- --check
(cd firmware && cargo fmt -- --check)

step "clippy (workspace, all targets, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings
# The firmware on the host target: the `rtt` board builds there (the semihosting crate of the
# default `qemu` board does not); the QEMU build below then compiles the rest for the device.
(cd firmware && cargo clippy --target x86_64-unknown-linux-gnu --no-default-features \
  --features rtt --target-dir ../target/firmware-clippy -- -D warnings)

step "runtime builds as no_std without alloc"
cargo build -p edgediff-runtime --no-default-features
if cargo tree -p edgediff-runtime --no-default-features -e normal --prefix none \
    | grep -E -i '^(alloc|std|libm|allocator)' ; then
  echo "the no_std runtime pulls in an allocator or std" >&2
  exit 1
fi
if grep -R -n -E 'extern crate alloc|alloc::' runtime/src ; then
  echo "the runtime must not use alloc" >&2
  exit 1
fi

step "runtime builds for Cortex-M4F (thumbv7em-none-eabihf), with defmt"
(
  eval "$(scripts/cross-env.sh)"
  # shellcheck disable=SC2086 # EDGEDIFF_BUILD_STD is empty or one flag
  cargo build -p edgediff-runtime --no-default-features --features defmt,dsp \
    --target thumbv7em-none-eabihf $EDGEDIFF_BUILD_STD --target-dir target/thumbv7em --release
)

step "firmware: toolchain, QEMU and defmt-print provisioned, default build"
scripts/firmware.sh --build-only

step "firmware for every real board of scripts/boards.sh builds (running needs the hardware)"
# shellcheck source=scripts/boards.sh
. scripts/boards.sh
for board in $BOARDS; do
  scripts/firmware.sh --board "$board" --build-only >/dev/null
done

step "tests (the firmware test runs every shipped model on every core under QEMU; fuzz corpora replay)"
cargo test --workspace

step "benches, quick mode (each benchmark once, so they never rot; scripts/bench.sh measures)"
cargo test -p edgediff --benches
