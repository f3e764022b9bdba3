//! QEMU's MPS2 boards (`mps2-an385` Cortex-M3, `mps2-an386` Cortex-M4F, `mps2-an500`
//! Cortex-M7, `mps2-an505` Cortex-M33; scripts/cores.sh): defmt over semihosting, exit
//! status through semihosting, and an instruction counter.
//!
//! Under `qemu-system-arm -icount shift=0` every executed instruction advances virtual time
//! by 1 ns, and SysTick, clocked from the board's core clock, ticks once per
//! [`config::INSTRUCTIONS_PER_TICK`] instructions (40 at 25 MHz, 50 at 20 MHz). SysTick counts
//! down from 2^24 - 1 and its exception counts the wraps, so `ticks * INSTRUCTIONS_PER_TICK`
//! is the executed instruction count, with that resolution.

use core::sync::atomic::{AtomicU32, Ordering};
use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::{ExceptionFrame, exception};
use cortex_m_semihosting::debug;
use defmt_semihosting as _;

use crate::config;

/// What [`Board::now`] counts.
pub const COUNTER_UNIT: &str = "instructions";

const RELOAD: u32 = 0x00ff_ffff;

static WRAPS: AtomicU32 = AtomicU32::new(0);

/// The board's peripherals this firmware uses.
pub struct Board {
    syst: SYST,
}

impl Board {
    /// Takes the peripherals and starts the counter.
    pub fn init() -> Self {
        let Some(p) = cortex_m::Peripherals::take() else {
            defmt::error!("peripherals already taken");
            debug::exit(debug::EXIT_FAILURE);
            loop {}
        };
        let mut syst = p.SYST;
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(RELOAD);
        syst.clear_current();
        syst.enable_interrupt();
        syst.enable_counter();
        Self { syst }
    }

    /// Instructions executed since [`Board::init`] (resolution
    /// [`config::INSTRUCTIONS_PER_TICK`]).
    pub fn now(&self) -> u64 {
        loop {
            let before = WRAPS.load(Ordering::Acquire);
            let current = SYST::get_current();
            if WRAPS.load(Ordering::Acquire) == before {
                let ticks = u64::from(before) * (u64::from(RELOAD) + 1)
                    + u64::from(RELOAD - current.min(RELOAD));
                return ticks * config::INSTRUCTIONS_PER_TICK;
            }
        }
    }

    /// Ends the run: QEMU exits with status 0 for `status == 0`, 1 otherwise.
    pub fn exit(self, status: u8) -> ! {
        let _ = self.syst;
        debug::exit(if status == 0 {
            debug::EXIT_SUCCESS
        } else {
            debug::EXIT_FAILURE
        });
        loop {}
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

// cortex-m-rt requires the HardFault handler to be an `unsafe fn`.
#[allow(unsafe_code)]
#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    defmt::error!("hard fault at pc {=u32:#010x}", frame.pc());
    debug::exit(debug::EXIT_FAILURE);
    loop {}
}

/// The current stack pointer (the main stack's).
pub fn stack_pointer() -> usize {
    cortex_m::register::msp::read() as usize
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    defmt::error!("firmware panic");
    debug::exit(debug::EXIT_FAILURE);
    loop {}
}
