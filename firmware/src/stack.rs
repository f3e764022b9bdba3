//! Stack high-water mark by painting: every word between the end of the statics and the
//! current stack pointer is filled with a pattern at start-up; after the run, the lowest word
//! that no longer holds it marks the deepest the stack went.
//!
//! The only `unsafe` of the firmware is here: raw accesses to RAM that no Rust object owns
//! (the free region below the stack, bounded by the runtime crate's linker symbols, which
//! cortex-m-rt, riscv-rt and esp-hal define).

#![allow(unsafe_code)]

const PAINT: u32 = 0xcccc_cccc;
/// Words below the current stack pointer left unpainted (the painting loop's own frame).
const MARGIN_WORDS: usize = 16;

unsafe extern "C" {
    /// End of `.bss`/`.uninit`: the lowest address the stack may grow down to.
    #[cfg(not(feature = "esp32c3"))]
    static mut __sheap: u32;
    /// esp-hal's stack guard word near the end of the stack, which a debug watchpoint
    /// watches: painting starts above it.
    #[cfg(feature = "esp32c3")]
    static mut __stack_chk_guard: u32;
    /// The initial stack pointer, the top of RAM.
    static mut _stack_start: u32;
}

#[cfg(not(feature = "esp32c3"))]
fn free_bottom() -> *mut u32 {
    &raw mut __sheap
}

#[cfg(feature = "esp32c3")]
fn free_bottom() -> *mut u32 {
    (&raw mut __stack_chk_guard).wrapping_add(1)
}

fn stack_top() -> usize {
    (&raw mut _stack_start) as usize
}

/// Paints the free stack region. Call first thing in `main`.
pub fn paint() {
    let bottom = free_bottom();
    let sp = crate::board::stack_pointer();
    let words = (sp.saturating_sub(bottom as usize) / 4).saturating_sub(MARGIN_WORDS);
    for i in 0..words {
        // SAFETY: `bottom + i` lies between the end of the statics and below the live stack
        // (the current stack pointer minus a margin): memory no Rust object uses yet.
        unsafe { bottom.add(i).write_volatile(PAINT) };
    }
}

/// Deepest stack use since [`paint`], in bytes from the top of RAM.
pub fn high_water() -> usize {
    let bottom = free_bottom();
    let top = stack_top();
    let words = top.saturating_sub(bottom as usize) / 4;
    let untouched = (0..words)
        // SAFETY: the addresses lie in RAM between the end of the statics and the top of the
        // stack; reading them volatile observes whatever the stack left there.
        .take_while(|&i| unsafe { bottom.add(i).read_volatile() } == PAINT)
        .count();
    top - (bottom as usize + 4 * untouched)
}
