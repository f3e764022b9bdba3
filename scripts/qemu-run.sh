#!/usr/bin/env bash
# Runs a firmware ELF on QEMU's mps2-an386 (Cortex-M4F) and decodes its defmt log.
#
# usage: scripts/qemu-run.sh FIRMWARE.elf
#
# -icount shift=0 advances virtual time 1 ns per executed instruction, which turns the
# firmware's SysTick readings into instruction counts. The firmware ends QEMU through
# semihosting; this script exits with QEMU's status (124 on a 10-minute timeout).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
elf="$1"
export PATH="$root/target/tools/bin:$PATH"
set +e
timeout "${EDGEDIFF_QEMU_TIMEOUT:-600}" qemu-system-arm \
  -machine mps2-an386 -cpu cortex-m4 -nographic -monitor none -serial none \
  -semihosting-config enable=on,target=native -icount shift=0 \
  -kernel "$elf" | defmt-print -e "$elf"
status=("${PIPESTATUS[@]}")
set -e
if [ "${status[0]}" -ne 0 ]; then
  echo "qemu-run: the firmware exited with status ${status[0]}" >&2
  exit "${status[0]}"
fi
exit "${status[1]}"
