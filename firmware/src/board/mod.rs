//! The board: where defmt's bytes go, what the counter counts, how a run ends.
//!
//! Each board module provides the same small API (`Board::init`, `Board::now`, `Board::exit`,
//! `COUNTER_UNIT`) and links a defmt transport and a panic handler. Adding a board means adding
//! a module here (and its feature in Cargo.toml) plus its `memory.x`; nothing else changes.

#[cfg(all(feature = "qemu", feature = "rtt"))]
compile_error!("choose one board feature: `qemu` or `rtt`");

#[cfg(feature = "qemu")]
mod qemu_mps2;
#[cfg(feature = "qemu")]
pub use qemu_mps2::*;

#[cfg(feature = "rtt")]
mod probe;
#[cfg(feature = "rtt")]
pub use probe::*;

#[cfg(not(any(feature = "qemu", feature = "rtt")))]
compile_error!("enable a board feature: `qemu` (default) or `rtt`");
