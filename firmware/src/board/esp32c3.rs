//! The ESP32-C3 (RV32IMC, 400 KiB SRAM, external flash), features `rtt` and `esp32c3`:
//! esp-hal starts the chip (160 MHz clock, watchdogs off), defmt goes over RTT through the
//! chip's built-in USB-JTAG (`probe-rs run --chip esp32c3` flashes and decodes it), and the
//! counter is the core's performance counter counting cycles. A run ends in a breakpoint,
//! which `probe-rs run` reports.
//!
//! esp-hal's linker scripts (`linkall.x`) carry the memory map; `memory/esp32c3.x` only gives
//! build.rs the RAM for the budget check.

use core::arch::asm;
use core::cell::Cell;
use defmt_rtt as _;
use esp_hal::clock::CpuClock;

// The application descriptor that ESP-IDF's second-stage bootloader checks before it jumps to
// the firmware.
esp_bootloader_esp_idf::esp_app_desc!();

/// The runtime's entry-point attribute.
pub use esp_hal::main as entry;

/// What [`Board::now`] counts.
pub const COUNTER_UNIT: &str = "cycles";

/// The performance counter's event mask (`mpcer`, CSR 0x7E0): bit 0 counts clock cycles
/// (ESP32-C3 Technical Reference Manual, section 1.5.2).
const COUNT_CYCLES: usize = 1;

/// The board: the chip's peripherals stay with esp-hal; the counter is a CSR.
pub struct Board {
    /// The last 32-bit counter reading and the 64-bit count it belongs to.
    last: Cell<(u32, u64)>,
}

#[allow(unsafe_code)]
fn start_cycle_counter() {
    // SAFETY: writes the performance counter's event mask (0x7E0), its mode (0x7E1: 1 counts)
    // and clears the counter (0x7E2); machine-mode CSRs no other code uses.
    unsafe {
        asm!(
            "csrw 0x7e0, {events}",
            "csrw 0x7e1, {on}",
            "csrw 0x7e2, zero",
            events = in(reg) COUNT_CYCLES,
            on = in(reg) 1,
            options(nomem, nostack),
        );
    }
}

#[allow(unsafe_code)]
fn cycle_count() -> u32 {
    let count: u32;
    // SAFETY: reads the performance counter (`mpccr`, CSR 0x7E2); no memory, no stack.
    unsafe { asm!("csrr {}, 0x7e2", out(reg) count, options(nomem, nostack, preserves_flags)) };
    count
}

impl Board {
    /// Starts the chip at its full clock and the cycle counter.
    pub fn init() -> Self {
        let _peripherals =
            esp_hal::init(esp_hal::Config::default().with_cpu_clock(CpuClock::max()));
        start_cycle_counter();
        Self {
            last: Cell::new((cycle_count(), 0)),
        }
    }

    /// Cycles since [`Board::init`], extended to 64 bits (the 32-bit counter must be read at
    /// least once per wrap, 27 s at 160 MHz: the counting wrapper reads it around every
    /// network evaluation).
    pub fn now(&self) -> u64 {
        let (low, total) = self.last.get();
        let now = cycle_count();
        let total = total + u64::from(now.wrapping_sub(low));
        self.last.set((now, total));
        total
    }

    /// Ends the run with a breakpoint that `probe-rs run` turns into its exit status.
    #[allow(unsafe_code)]
    pub fn exit(self, status: u8) -> ! {
        if status != 0 {
            defmt::error!("exit status {=u8}", status);
        }
        loop {
            // SAFETY: a breakpoint; the debugger (probe-rs) takes over.
            unsafe { asm!("ebreak", options(nomem, nostack)) };
        }
    }
}

/// The current stack pointer.
#[allow(unsafe_code)]
pub fn stack_pointer() -> usize {
    let sp: usize;
    // SAFETY: reads a register into another; no memory, no stack, no flags.
    unsafe { asm!("mv {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
    sp
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    defmt::error!("firmware panic");
    Board {
        last: Cell::new((0, 0)),
    }
    .exit(1)
}
