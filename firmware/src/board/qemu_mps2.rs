//! QEMU's MPS2 boards (`mps2-an385` Cortex-M3, `mps2-an386` Cortex-M4F, `mps2-an500`
//! Cortex-M7, `mps2-an505` Cortex-M33; scripts/cores.sh): defmt over semihosting, exit
//! status through semihosting, and an instruction counter.
//!
//! Under `qemu-system-arm -icount shift=0` every executed instruction advances virtual time
//! by 1 ns, and SysTick, clocked from the board's core clock, ticks once per
//! [`config::INSTRUCTIONS_PER_TICK`] instructions (40 at 25 MHz, 50 at 20 MHz), so
//! `ticks * INSTRUCTIONS_PER_TICK` ([`super::systick`]) is the executed instruction count,
//! with that resolution.

use super::systick::Ticks;
use cortex_m_rt::{ExceptionFrame, exception};
use cortex_m_semihosting::debug;
use defmt_semihosting as _;

use crate::config;

/// What [`Board::now`] counts.
pub const COUNTER_UNIT: &str = "instructions";

/// The board's peripherals this firmware uses.
pub struct Board {
    ticks: Ticks,
}

impl Board {
    /// Takes the peripherals and starts the counter.
    pub fn init() -> Self {
        let Some(p) = cortex_m::Peripherals::take() else {
            defmt::error!("peripherals already taken");
            debug::exit(debug::EXIT_FAILURE);
            loop {}
        };
        Self {
            ticks: Ticks::start(p.SYST),
        }
    }

    /// Instructions executed since [`Board::init`] (resolution
    /// [`config::INSTRUCTIONS_PER_TICK`]).
    pub fn now(&self) -> u64 {
        self.ticks.now() * config::INSTRUCTIONS_PER_TICK
    }

    /// Ends the run: QEMU exits with status 0 for `status == 0`, 1 otherwise.
    pub fn exit(self, status: u8) -> ! {
        debug::exit(if status == 0 {
            debug::EXIT_SUCCESS
        } else {
            debug::EXIT_FAILURE
        });
        loop {}
    }
}

// cortex-m-rt requires the HardFault handler to be an `unsafe fn`.
#[allow(unsafe_code)]
#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    defmt::error!("hard fault at pc {=u32:#010x}", frame.pc());
    debug::exit(debug::EXIT_FAILURE);
    loop {}
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    defmt::error!("firmware panic");
    debug::exit(debug::EXIT_FAILURE);
    loop {}
}
