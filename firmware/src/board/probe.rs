//! Any Cortex-M4F board behind a debug probe: defmt over RTT (`probe-rs run` decodes it) and
//! the DWT cycle counter. A run ends in a breakpoint, which `probe-rs run` reports.
//!
//! The flash and RAM of the board go in `memory.x`.

use core::cell::Cell;
use cortex_m::peripheral::DWT;
use defmt_rtt as _;

/// What [`Board::now`] counts.
pub const COUNTER_UNIT: &str = "cycles";

/// The board's peripherals this firmware uses.
pub struct Board {
    _dwt: DWT,
    /// The last 32-bit reading and the 64-bit count it belongs to.
    last: Cell<(u32, u64)>,
}

impl Board {
    /// Takes the peripherals and starts the cycle counter.
    pub fn init() -> Self {
        let Some(mut p) = cortex_m::Peripherals::take() else {
            defmt::error!("peripherals already taken");
            cortex_m::asm::udf()
        };
        p.DCB.enable_trace();
        p.DWT.enable_cycle_counter();
        Self {
            _dwt: p.DWT,
            last: Cell::new((DWT::cycle_count(), 0)),
        }
    }

    /// Cycles since [`Board::init`], extended to 64 bits (the 32-bit DWT counter must be
    /// read at least once per wrap, every 2^32 cycles: the counting wrapper reads it around
    /// every network evaluation).
    pub fn now(&self) -> u64 {
        let (low, total) = self.last.get();
        let now = DWT::cycle_count();
        let total = total + u64::from(now.wrapping_sub(low));
        self.last.set((now, total));
        total
    }

    /// Ends the run with a breakpoint that `probe-rs run` turns into its exit status.
    pub fn exit(self, status: u8) -> ! {
        if status == 0 {
            cortex_m::asm::bkpt();
        } else {
            defmt::error!("exit status {=u8}", status);
            cortex_m::asm::udf()
        }
        loop {
            cortex_m::asm::wfi();
        }
    }
}

/// The current stack pointer (the main stack's).
pub fn stack_pointer() -> usize {
    cortex_m::register::msp::read() as usize
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    defmt::error!("firmware panic");
    cortex_m::asm::udf()
}
