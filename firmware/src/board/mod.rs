//! The board: where defmt's bytes go, what the counter counts, how a run ends.
//!
//! Each board module provides the same small API (`Board::init`, `Board::now`, `Board::exit`,
//! `COUNTER_UNIT`; `stack_pointer` on RISC-V, shared below on Cortex-M; `entry` where the
//! start-up is not cortex-m-rt's or riscv-rt's) and links a defmt transport and a panic
//! handler. Adding a board means adding a module here (and its feature in Cargo.toml) plus its
//! memory map under `memory/`; nothing else changes.

#[cfg(all(feature = "qemu", feature = "rtt"))]
compile_error!("choose one board feature: `qemu` or `rtt`");

/// The SysTick counter: QEMU's instruction counts, and cycles on the Cortex-M0+ (no DWT).
#[cfg(any(all(feature = "qemu", target_arch = "arm"), armv6m))]
mod systick;

#[cfg(any(feature = "rp2040", feature = "rp2350"))]
mod rp_boot;

#[cfg(all(feature = "qemu", target_arch = "arm"))]
mod qemu_mps2;
#[cfg(all(feature = "qemu", target_arch = "arm"))]
pub use qemu_mps2::*;

#[cfg(all(feature = "qemu", target_arch = "riscv32"))]
mod qemu_virt_rv32;
#[cfg(all(feature = "qemu", target_arch = "riscv32"))]
pub use qemu_virt_rv32::*;

/// The runtime's entry-point attribute.
#[cfg(not(target_arch = "riscv32"))]
pub use cortex_m_rt::entry;

/// The current stack pointer (the main stack's), on every Cortex-M board.
#[cfg(not(target_arch = "riscv32"))]
pub fn stack_pointer() -> usize {
    cortex_m::register::msp::read() as usize
}
#[cfg(all(feature = "qemu", target_arch = "riscv32"))]
pub use riscv_rt::entry;

#[cfg(all(feature = "rtt", not(target_arch = "riscv32")))]
mod probe;
#[cfg(all(feature = "rtt", not(target_arch = "riscv32")))]
pub use probe::*;

#[cfg(feature = "esp32c3")]
mod esp32c3;
#[cfg(feature = "esp32c3")]
pub use esp32c3::*;
#[cfg(all(feature = "esp32c3", not(feature = "rtt")))]
compile_error!("the `esp32c3` board needs the `rtt` feature (its defmt transport)");

#[cfg(not(any(feature = "qemu", feature = "rtt")))]
compile_error!("enable a board feature: `qemu` (default) or `rtt`");
