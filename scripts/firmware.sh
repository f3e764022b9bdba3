#!/usr/bin/env bash
# Builds the firmware for a model pack and a Cortex-M core and runs it under QEMU (one
# command).
#
# usage: scripts/firmware.sh [--core CORE | --board BOARD] [--model NAME | --pack FILE] [--seed S]
#                            [--samples N] [--label L] [--features F] [--build-only]
#
#   --core CORE    m0plus, m3, m4 (default), m7, m33 or rv32: the target, CPU and QEMU
#                  machine of scripts/cores.sh
#   --board BOARD  a real board instead (nrf52840, stm32f411, stm32h743, rp2040, rp2350,
#                  esp32c3;
#                  scripts/boards.sh): defmt over RTT, flashed and run by `probe-rs run`
#   --model NAME   a shipped model (models/NAME/model.pack); default two-moons
#   --pack FILE    any model pack (compile one with `edgediff compile`; the sampler and its
#                  steps are the pack's)
#   --seed, --samples, --label   as `edgediff sample --engine runtime`
#   --init FILE    start from these signals (CSV, --samples lines) instead of noise, with
#   --noise-std S  (denoise signals that carry that much Gaussian noise) or
#   --strength S   (SDEdit), as `edgediff sample --init FILE --noise-std S | --strength S`
#   --features F   extra firmware features (e.g. kernel-check: the DSP kernels against the
#                  reference kernels on the device before sampling)
#   --build-only   build, print the ELF's path, do not run
#
# Provisions what is missing on a fresh machine: the cross compiler and linker
# (scripts/cross-env.sh), the core's QEMU (apt) and defmt-print (cargo install, into
# target/tools). The ELF is target/firmware/CPU/TARGET/release/edgediff-firmware.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/cores.sh
. "$root/scripts/cores.sh"
# shellcheck source=scripts/boards.sh
. "$root/scripts/boards.sh"

core=m4
board=""
pack="$root/models/two-moons/model.pack"
seed=0
samples=4
label=""
init=""
noise_std=""
strength=""
features=""
build_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --core) core="$2"; shift 2 ;;
    --board) board="$2"; shift 2 ;;
    --model) pack="$root/models/$2/model.pack"; shift 2 ;;
    --pack) pack="$(realpath -m "$2")"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --samples) samples="$2"; shift 2 ;;
    --label) label="$2"; shift 2 ;;
    --init) init="$(realpath -m "$2")"; shift 2 ;;
    --noise-std) noise_std="$2"; shift 2 ;;
    --strength) strength="$2"; shift 2 ;;
    --features) features="$2"; shift 2 ;;
    --build-only) build_only=1; shift ;;
    *) echo "firmware.sh: unknown option $1 (see the usage at the top of the script)" >&2; exit 2 ;;
  esac
done
[ -f "$pack" ] || { echo "firmware.sh: $pack: no such model pack" >&2; exit 2; }
core_config "$core" || exit 2
link=link.x
if [ -n "$board" ]; then
  board_config "$board" || exit 2
  core="board-$board"
  features="rtt${extra:+,$extra}${features:+,$features}"
fi
cd "$root"

provision() {
  if [ -n "$board" ]; then
    return
  fi
  if ! command -v "$qemu" >/dev/null; then
    echo "firmware.sh: installing $qemu_pkg" >&2
    if ! apt-get install -y --no-install-recommends "$qemu_pkg" >&2; then
      apt-get update >&2
      apt-get install -y --no-install-recommends "$qemu_pkg" >&2
    fi
  fi
  if ! PATH="$root/target/tools/bin:$PATH" command -v defmt-print >/dev/null; then
    echo "firmware.sh: installing defmt-print into target/tools" >&2
    cargo install --locked --quiet defmt-print --version '^1' --root "$root/target/tools" >&2
  fi
}
provision

# One target directory per LLVM CPU (M4 and M7 share a target triple but not a CPU): the
# cores and the boards with the same CPU share their compiled dependencies.
elf="$root/target/firmware/$cpu/$target/release/edgediff-firmware"
(
  eval "$(scripts/cross-env.sh "$target")"
  cd firmware
  # The link scripts (.cargo/config.toml's, or the board's HAL's), and the core's CPU.
  export RUSTFLAGS="-C link-arg=-T$link -C link-arg=-Tdefmt.x -C target-cpu=$cpu"
  # shellcheck disable=SC2086 # EDGEDIFF_BUILD_STD is empty or one flag
  EDGEDIFF_PACK="$pack" EDGEDIFF_SEED="$seed" EDGEDIFF_SAMPLES="$samples" \
    EDGEDIFF_LABEL="$label" EDGEDIFF_INIT="$init" EDGEDIFF_NOISE_STD="$noise_std" \
    EDGEDIFF_STRENGTH="$strength" EDGEDIFF_CORE="$core" EDGEDIFF_MEMORY_X="$memory" \
    EDGEDIFF_INSTRUCTIONS_PER_TICK="$tick" \
    cargo build --release --quiet $EDGEDIFF_BUILD_STD --target "$target" \
      --target-dir "$root/target/firmware/$cpu" ${board:+--no-default-features} \
      ${features:+--features "$features"} >&2
)
if [ "$build_only" = 1 ]; then
  echo "$elf"
  exit 0
fi
if [ -n "$board" ]; then
  command -v probe-rs >/dev/null || {
    echo "firmware.sh: running on a board needs probe-rs (cargo install probe-rs-tools --locked) and the board behind a debug probe" >&2
    exit 2
  }
  exec probe-rs run --chip "$chip" "$elf"
fi
exec scripts/qemu-run.sh --core "$core" "$elf"
