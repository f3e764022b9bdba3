//! QEMU's `virt` machine with an RV32IMAC hart (`qemu-system-riscv32 -bios none`): defmt over
//! semihosting, exit status through semihosting, and the retired-instruction counter.
//!
//! Under `-icount shift=0` QEMU's `minstret` counts every executed instruction, so the
//! counter is exact (resolution 1), where the Cortex-M boards read SysTick ticks.

use core::arch::asm;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};
use critical_section::RestoreState;
use semihosting::io::Write as _;

/// What [`Board::now`] counts.
pub const COUNTER_UNIT: &str = "instructions";

/// The board: nothing to take, the counter is a CSR.
pub struct Board;

impl Board {
    /// Nothing to set up: `minstret` runs from reset.
    pub fn init() -> Self {
        Self
    }

    /// Instructions retired since reset.
    pub fn now(&self) -> u64 {
        riscv::register::minstret::read64()
    }

    /// Ends the run: QEMU exits with `status`.
    pub fn exit(self, status: u8) -> ! {
        semihosting::process::exit(i32::from(status))
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

/// defmt frames over semihosting's standard output (`SYS_WRITE`), one critical section per
/// frame, as the Cortex-M boards' `defmt-semihosting` does.
#[defmt::global_logger]
struct Logger;

/// The frame encoder and the critical section's restore state, touched only between
/// `acquire` and `release`.
struct Frame(UnsafeCell<(defmt::Encoder, RestoreState)>);

// SAFETY: only used inside the logger's critical section (one hart).
#[allow(unsafe_code)]
unsafe impl Sync for Frame {}

static TAKEN: AtomicBool = AtomicBool::new(false);
static FRAME: Frame = Frame(UnsafeCell::new((
    defmt::Encoder::new(),
    RestoreState::invalid(),
)));

fn emit(bytes: &[u8]) {
    if let Ok(mut out) = semihosting::io::stdout() {
        let _ = out.write_all(bytes);
    }
}

#[allow(unsafe_code)]
// SAFETY: `acquire` enters a critical section and refuses re-entry, so `FRAME` has one user
// at a time until `release`, as `defmt::Logger` requires.
unsafe impl defmt::Logger for Logger {
    fn acquire() {
        // SAFETY: released in `release`, which defmt calls after every `acquire`.
        let restore = unsafe { critical_section::acquire() };
        if TAKEN.swap(true, Ordering::Acquire) {
            panic!("defmt logger taken re-entrantly");
        }
        // SAFETY: inside the critical section, the only user (see the impl).
        let frame = unsafe { &mut *FRAME.0.get() };
        frame.1 = restore;
        frame.0.start_frame(emit);
    }

    unsafe fn flush() {}

    unsafe fn release() {
        // SAFETY: as in `acquire`; defmt calls `release` once per `acquire`.
        let frame = unsafe { &mut *FRAME.0.get() };
        frame.0.end_frame(emit);
        let restore = frame.1;
        TAKEN.store(false, Ordering::Release);
        // SAFETY: the state `acquire` saved.
        unsafe { critical_section::release(restore) };
    }

    unsafe fn write(bytes: &[u8]) {
        // SAFETY: as in `acquire`.
        let frame = unsafe { &mut *FRAME.0.get() };
        frame.0.write(bytes, emit);
    }
}

/// A trap the firmware does not expect (an illegal instruction, a bad access): logged, and
/// QEMU exits with status 1 instead of hanging.
#[allow(unsafe_code)]
#[unsafe(export_name = "ExceptionHandler")]
fn exception(_: &riscv_rt::TrapFrame) -> ! {
    defmt::error!(
        "exception: mcause {=usize:#x} at pc {=usize:#010x}",
        riscv::register::mcause::read().bits(),
        riscv::register::mepc::read()
    );
    semihosting::process::exit(1)
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    defmt::error!("firmware panic");
    semihosting::process::exit(1)
}
