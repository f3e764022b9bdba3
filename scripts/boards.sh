# The real boards the firmware builds for (the `rtt` board: defmt over RTT, a cycle counter),
# in one table, sourced by scripts/firmware.sh (--board). CI builds each one; running needs
# the board and a debug probe (probe-rs).
#
# board_config BOARD sets:
#   target, cpu   the Rust target triple and LLVM's -C target-cpu
#   memory        the memory map (a file under firmware/)
#   chip          probe-rs's name for the chip (`probe-rs chip list`)
#   extra         firmware features besides `rtt` (the boot blocks of the Raspberry Pi chips,
#                 the ESP32-C3's esp-hal)
#   link          the runtime crate's linker script (cortex-m-rt's link.x; esp-hal's linkall.x)

# Every board, in the order the docs and CI use.
BOARDS="nrf52840 stm32f411 stm32h743 rp2040 rp2350 esp32c3"

board_config() {
  extra="" link=link.x
  case "$1" in
    nrf52840) target=thumbv7em-none-eabihf cpu=cortex-m4 memory=memory/nrf52840.x \
      chip=nRF52840_xxAA ;;
    stm32f411) target=thumbv7em-none-eabihf cpu=cortex-m4 memory=memory/stm32f411.x \
      chip=STM32F411RETx ;;
    stm32h743) target=thumbv7em-none-eabihf cpu=cortex-m7 memory=memory/stm32h743.x \
      chip=STM32H743ZITx ;;
    rp2040) target=thumbv6m-none-eabi cpu=cortex-m0plus memory=memory/rp2040.x chip=RP2040 \
      extra=rp2040 ;;
    rp2350) target=thumbv8m.main-none-eabihf cpu=cortex-m33 memory=memory/rp2350.x \
      chip=RP235x extra=rp2350 ;;
    esp32c3) target=riscv32imc-unknown-none-elf cpu=generic-rv32 memory=memory/esp32c3.x \
      chip=esp32c3 extra=esp32c3 link=linkall.x ;;
    *) echo "unknown board '$1' (one of: $BOARDS)" >&2; return 2 ;;
  esac
}
