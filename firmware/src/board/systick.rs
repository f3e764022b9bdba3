//! A 64-bit count of SysTick ticks, clocked from the core clock: the 24-bit down-counter plus
//! its wraps, which the SysTick exception counts. Every Cortex-M has it (the Cortex-M0+ has no
//! DWT cycle counter).

use core::sync::atomic::{AtomicU32, Ordering};
use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::exception;

const RELOAD: u32 = 0x00ff_ffff;

static WRAPS: AtomicU32 = AtomicU32::new(0);

/// The running counter (owns SysTick).
pub struct Ticks {
    _syst: SYST,
}

impl Ticks {
    /// Starts SysTick from the core clock, wrapping every 2^24 ticks.
    pub fn start(mut syst: SYST) -> Self {
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(RELOAD);
        syst.clear_current();
        syst.enable_interrupt();
        syst.enable_counter();
        Self { _syst: syst }
    }

    /// Ticks since [`Ticks::start`].
    pub fn now(&self) -> u64 {
        loop {
            let before = WRAPS.load(Ordering::Acquire);
            let current = SYST::get_current();
            if WRAPS.load(Ordering::Acquire) == before {
                return u64::from(before) * (u64::from(RELOAD) + 1)
                    + u64::from(RELOAD - current.min(RELOAD));
            }
        }
    }
}

#[exception]
fn SysTick() {
    // Only this handler writes WRAPS, so a load and a store suffice (ARMv6-M, the Cortex-M0+,
    // has no atomic read-modify-write).
    WRAPS.store(
        WRAPS.load(Ordering::Acquire).wrapping_add(1),
        Ordering::Release,
    );
}
