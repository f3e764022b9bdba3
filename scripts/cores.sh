# The cores (Cortex-M and RISC-V) the firmware builds and runs for under QEMU, in one table (sourced by
# scripts/firmware.sh, scripts/qemu-run.sh and scripts/cross-env.sh).
#
# core_config CORE sets:
#   target    the Rust target triple
#   cpu       LLVM's -C target-cpu
#   machine   the QEMU machine and qemu_cpu its CPU
#   memory    the firmware's memory map (a file under firmware/)
#   tick      executed instructions per counter tick under -icount shift=0: 1 ns per
#             instruction against the board's SysTick clock (25 MHz on mps2-an385/386/500,
#             20 MHz on mps2-an505); 1 on RISC-V, whose minstret counts instructions
#   qemu      the QEMU binary, and qemu_pkg the Debian package that has it
#
# QEMU has no Cortex-M0+ machine: the m0plus build (thumbv6m, what an RP2040 runs) executes
# unchanged on the Cortex-M3 of mps2-an385, so its instruction stream is the M0+ one.

# Every core, in the order the tests and tables use.
CORES="m0plus m3 m4 m7 m33 rv32"

core_config() {
  qemu=qemu-system-arm qemu_pkg=qemu-system-arm
  case "$1" in
    m0plus) target=thumbv6m-none-eabi cpu=cortex-m0plus machine=mps2-an385 qemu_cpu=cortex-m3 \
      memory=memory/mps2.x tick=40 ;;
    m3) target=thumbv7m-none-eabi cpu=cortex-m3 machine=mps2-an385 qemu_cpu=cortex-m3 \
      memory=memory/mps2.x tick=40 ;;
    m4) target=thumbv7em-none-eabihf cpu=cortex-m4 machine=mps2-an386 qemu_cpu=cortex-m4 \
      memory=memory/mps2.x tick=40 ;;
    m7) target=thumbv7em-none-eabihf cpu=cortex-m7 machine=mps2-an500 qemu_cpu=cortex-m7 \
      memory=memory/mps2.x tick=40 ;;
    m33) target=thumbv8m.main-none-eabihf cpu=cortex-m33 machine=mps2-an505 \
      qemu_cpu=cortex-m33 memory=memory/mps2-an505.x tick=50 ;;
    rv32) target=riscv32imac-unknown-none-elf cpu=generic-rv32 machine=virt qemu_cpu=rv32 \
      memory=memory/qemu-virt-rv32.x tick=1 qemu=qemu-system-riscv32 qemu_pkg=qemu-system-misc ;;
    *) echo "unknown core '$1' (one of: $CORES)" >&2; return 2 ;;
  esac
}
