#!/usr/bin/env bash
# Runs a firmware ELF on the QEMU machine of a core (scripts/cores.sh; default m4, the
# Cortex-M4F of mps2-an386) and decodes its defmt log.
#
# usage: scripts/qemu-run.sh [--core CORE] FIRMWARE.elf
#
# -icount shift=0 advances virtual time 1 ns per executed instruction, which turns the
# firmware's SysTick readings into instruction counts. The firmware ends QEMU through
# semihosting; this script exits with QEMU's status (124 on a 10-minute timeout).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/cores.sh
. "$root/scripts/cores.sh"
core=m4
if [ "${1:-}" = --core ]; then
  core="$2"
  shift 2
fi
core_config "$core" || exit 2
elf="$1"
export PATH="$root/target/tools/bin:$PATH"
set +e
# -bios none: on RISC-V virt, no firmware before ours (ignored by the Arm machines).
bios=()
[ "$qemu" = qemu-system-riscv32 ] && bios=(-bios none)
timeout "${EDGEDIFF_QEMU_TIMEOUT:-600}" "$qemu" "${bios[@]}" \
  -machine "$machine" -cpu "$qemu_cpu" -nographic -monitor none -serial none \
  -semihosting-config enable=on,target=native -icount shift=0 \
  -kernel "$elf" | defmt-print -e "$elf"
status=("${PIPESTATUS[@]}")
set -e
if [ "${status[0]}" -ne 0 ]; then
  echo "qemu-run: the firmware exited with status ${status[0]}" >&2
  exit "${status[0]}"
fi
exit "${status[1]}"
