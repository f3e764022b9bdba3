//! Any Cortex-M board behind a debug probe: defmt over RTT (`probe-rs run` decodes it) and
//! the DWT cycle counter (SysTick on the Cortex-M0+, which has no DWT counter). A run ends in
//! a breakpoint, which `probe-rs run` reports.
//!
//! The flash and RAM of the board go in its memory map under `memory/` (scripts/boards.sh
//! names one per supported board).

#[cfg(not(armv6m))]
use core::cell::Cell;
#[cfg(not(armv6m))]
use cortex_m::peripheral::DWT;
use defmt_rtt as _;

/// What [`Board::now`] counts.
pub const COUNTER_UNIT: &str = "cycles";

/// The board's peripherals this firmware uses.
pub struct Board {
    #[cfg(not(armv6m))]
    _dwt: DWT,
    /// The last 32-bit DWT reading and the 64-bit count it belongs to.
    #[cfg(not(armv6m))]
    last: Cell<(u32, u64)>,
    /// ARMv6-M (the Cortex-M0+) has no DWT cycle counter: SysTick from the core clock.
    #[cfg(armv6m)]
    ticks: super::systick::Ticks,
}

impl Board {
    /// Takes the peripherals and starts the cycle counter.
    pub fn init() -> Self {
        #[allow(unused_mut)]
        let Some(mut p) = cortex_m::Peripherals::take() else {
            defmt::error!("peripherals already taken");
            cortex_m::asm::udf()
        };
        #[cfg(not(armv6m))]
        {
            p.DCB.enable_trace();
            p.DWT.enable_cycle_counter();
            Self {
                _dwt: p.DWT,
                last: Cell::new((DWT::cycle_count(), 0)),
            }
        }
        #[cfg(armv6m)]
        Self {
            ticks: super::systick::Ticks::start(p.SYST),
        }
    }

    /// Cycles since [`Board::init`], extended to 64 bits (the 32-bit DWT counter must be
    /// read at least once per wrap, every 2^32 cycles: the counting wrapper reads it around
    /// every network evaluation).
    #[cfg(not(armv6m))]
    pub fn now(&self) -> u64 {
        let (low, total) = self.last.get();
        let now = DWT::cycle_count();
        let total = total + u64::from(now.wrapping_sub(low));
        self.last.set((now, total));
        total
    }

    /// Cycles since [`Board::init`] (SysTick ticks, one per core clock cycle).
    #[cfg(armv6m)]
    pub fn now(&self) -> u64 {
        self.ticks.now()
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

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    defmt::error!("firmware panic");
    cortex_m::asm::udf()
}
