//! The Cortex-M DSP extension (ARMv7E-M, ARMv8-M Mainline with DSP): `SMLAD` does two
//! 16 x 16 multiply-adds in one instruction and `SXTB16` widens bytes 0 and 2 (or, rotated,
//! 1 and 3) of a weight word into two halfwords. Patches are laid out by
//! [`super::dot::prepare`] so that each patch word lines up with those weight pairs.
//!
//! Two blocked kernels are written in assembly, because the compiler spills their
//! accumulators (14 registers live in the loop, more than an `asm!` block may name):
//!
//! - [`pair_rows`]: two patches (two output pixels) against two weight rows (two output
//!   channels), 4 accumulators. Per 4 taps: 2 weight loads, 4 `SXTB16`, 1 `LDRD` and 2 `LDR`
//!   of patch words, 8 `SMLAD` and 2 of loop control: 19 instructions for 16 MACs. Each
//!   widened weight word feeds both pixels, as in CMSIS-NN's `arm_nn_mat_mult_kernel_s8_s16`.
//! - [`quad_rows`]: one patch (a linear layer, or a leftover pixel) against four weight
//!   rows. Per 4 taps: 1 `LDRD` of patch words, then per row 1 load, 2 `SXTB16` and 2
//!   `SMLAD`; 23 instructions for 16 MACs.
//!
//! Both cover whole groups of 4 taps; the caller adds the remaining taps.

use core::arch::asm;
use kernels::{edgediff_dsp_pair_rows, edgediff_dsp_quad_rows};

/// Bytes from the first patch of a pair to the second ([`super::dot::PatchPair`]); the pair
/// kernel reads the second at this fixed offset.
pub const PAIR_OFFSET: usize = 1024;

/// `acc + a.lo * b.lo + a.hi * b.hi` (signed halfwords).
#[inline(always)]
#[allow(unsafe_code)]
pub fn smlad(a: u32, b: u32, acc: i32) -> i32 {
    let r: i32;
    // SAFETY: SMLAD reads three registers and writes one; no memory, no stack, no flags that
    // Rust relies on (it may set Q, which nothing here reads).
    unsafe {
        asm!("smlad {r}, {a}, {b}, {c}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b,
             c = in(reg) acc, options(pure, nomem, nostack, preserves_flags));
    }
    r
}

/// Sign-extends bytes 0 and 2 of `x` into the two halfwords.
#[inline(always)]
#[allow(unsafe_code)]
pub fn sxtb16(x: u32) -> u32 {
    let r: u32;
    // SAFETY: register-only, as above.
    unsafe {
        asm!("sxtb16 {r}, {x}", r = lateout(reg) r, x = in(reg) x,
             options(pure, nomem, nostack, preserves_flags));
    }
    r
}

/// Sign-extends bytes 1 and 3 of `x` into the two halfwords.
#[inline(always)]
#[allow(unsafe_code)]
pub fn sxtb16_ror8(x: u32) -> u32 {
    let r: u32;
    // SAFETY: register-only, as above.
    unsafe {
        asm!("sxtb16 {r}, {x}, ror #8", r = lateout(reg) r, x = in(reg) x,
             options(pure, nomem, nostack, preserves_flags));
    }
    r
}

/// What one call of an assembly kernel reads (its only argument, in `r0`).
#[repr(C)]
struct Job {
    /// The (first) patch, laid out by `prepare`, 4-byte aligned.
    patch: *const i16,
    /// The first weight row.
    weights: *const u8,
    /// Bytes from one weight row to the next (the taps per output channel).
    stride: usize,
    /// Groups of 4 taps to sum (at least 1).
    groups: usize,
    /// Blocks of rows (pairs or quads, at least 1).
    blocks: usize,
    /// Where the sums go: 4 per block.
    out: *mut i32,
}

/// `out[2 r + k] = sum over the first 4 * groups taps of pair patch k times weight row r`, for
/// rows `0..2 * blocks` of `stride` bytes from `weights`, with `blocks = out.len() / 4`.
///
/// `patch` holds the first patch and the second [`PAIR_OFFSET`] bytes after it. Returns
/// false, writing nothing, when the operands do not fit that shape.
pub fn pair_rows(
    patch: &[i16],
    weights: &[u8],
    stride: usize,
    groups: usize,
    out: &mut [i32],
) -> bool {
    let blocks = out.len() / 4;
    let fits = groups > 0
        && blocks > 0
        && 4 * groups <= stride
        && patch.len() >= PAIR_OFFSET / 2 + 4 * groups
        && weights.len() >= 2 * blocks * stride
        && patch.as_ptr().align_offset(4) == 0;
    if fits {
        run(
            edgediff_dsp_pair_rows,
            patch,
            weights,
            stride,
            groups,
            blocks,
            out,
        );
    }
    fits
}

/// `out[r] = sum over the first 4 * groups taps of the patch times weight row r`, for rows
/// `0..4 * blocks` of `stride` bytes from `weights`, with `blocks = out.len() / 4`. Returns
/// false, writing nothing, when the operands do not fit that shape.
pub fn quad_rows(
    patch: &[i16],
    weights: &[u8],
    stride: usize,
    groups: usize,
    out: &mut [i32],
) -> bool {
    let blocks = out.len() / 4;
    let fits = groups > 0
        && blocks > 0
        && 4 * groups <= stride
        && patch.len() >= 4 * groups
        && weights.len() >= 4 * blocks * stride
        && patch.as_ptr().align_offset(4) == 0;
    if fits {
        run(
            edgediff_dsp_quad_rows,
            patch,
            weights,
            stride,
            groups,
            blocks,
            out,
        );
    }
    fits
}

/// Calls an assembly kernel on checked operands.
#[allow(unsafe_code)]
fn run(
    kernel: unsafe extern "C" fn(*const Job),
    patch: &[i16],
    weights: &[u8],
    stride: usize,
    groups: usize,
    blocks: usize,
    out: &mut [i32],
) {
    let job = Job {
        patch: patch.as_ptr(),
        weights: weights.as_ptr(),
        stride,
        groups,
        blocks,
        out: out.as_mut_ptr(),
    };
    // SAFETY: the callers checked that every address the kernel reads lies in `patch` (the
    // 4 * groups taps of each patch, the second at PAIR_OFFSET bytes) and `weights` (4 * groups
    // bytes of each of the block rows, stride bytes apart), that the patch is 4-byte aligned
    // for LDRD, and that `out` holds the 4 * blocks sums it writes; groups and blocks are at
    // least 1, which the loops need. The kernels follow the AAPCS: they save r4-r11 and lr and
    // restore sp.
    unsafe { kernel(&job) }
}

/// The assembly kernels and their declarations.
#[allow(unsafe_code)]
mod kernels {
    use core::arch::global_asm;

    unsafe extern "C" {
        pub fn edgediff_dsp_pair_rows(job: *const super::Job);
        pub fn edgediff_dsp_quad_rows(job: *const super::Job);
    }

    // Registers of the pair kernel's loop: r4 r5 / r6 r7 the sums of row 0 / row 1 for pixels
    // 0 and 1; r8 r9 / r10 r11 the widened weight pairs of row 0 / row 1; r0 lr patch words; r1
    // the patch, r12 its end; r2 r3 the weight rows. The stack holds the stride, the weight step
    // between blocks, the blocks left, the output and the patch start.
    global_asm!(
        ".section .text.edgediff_dsp_pair_rows,\"ax\",%progbits",
        ".global edgediff_dsp_pair_rows",
        ".type edgediff_dsp_pair_rows,%function",
        ".p2align 2",
        ".thumb_func",
        "edgediff_dsp_pair_rows:",
        "push {{r4-r11, lr}}",
        "sub sp, sp, #20",
        "ldrd r1, r2, [r0, #0]",
        "ldrd r3, r12, [r0, #8]",
        "ldrd r4, r5, [r0, #16]",
        "str r3, [sp, #0]",
        "lsls r6, r3, #1",
        "sub r6, r6, r12, lsl #2",
        "str r6, [sp, #4]",
        "str r4, [sp, #8]",
        "str r5, [sp, #12]",
        "str r1, [sp, #16]",
        "add r12, r1, r12, lsl #3",
        "2:",
        "ldr r3, [sp, #0]",
        "add r3, r2, r3",
        "movs r4, #0",
        "movs r5, #0",
        "movs r6, #0",
        "movs r7, #0",
        "3:",
        "ldr r8, [r2], #4",
        "ldr r10, [r3], #4",
        "sxtb16 r9, r8, ror #8",
        "sxtb16 r8, r8",
        "sxtb16 r11, r10, ror #8",
        "sxtb16 r10, r10",
        "ldrd r0, lr, [r1], #8",
        "smlad r4, r0, r8, r4",
        "smlad r4, lr, r9, r4",
        "smlad r6, r0, r10, r6",
        "smlad r6, lr, r11, r6",
        "ldr r0, [r1, #{second}]",
        "ldr lr, [r1, #{second_hi}]",
        "smlad r5, r0, r8, r5",
        "smlad r5, lr, r9, r5",
        "smlad r7, r0, r10, r7",
        "smlad r7, lr, r11, r7",
        "cmp r1, r12",
        "bne 3b",
        "ldr r0, [sp, #12]",
        "stmia r0!, {{r4-r7}}",
        "str r0, [sp, #12]",
        "ldr r0, [sp, #4]",
        "add r2, r2, r0",
        "ldr r1, [sp, #16]",
        "ldr r0, [sp, #8]",
        "subs r0, r0, #1",
        "str r0, [sp, #8]",
        "bne 2b",
        "add sp, sp, #20",
        "pop {{r4-r11, pc}}",
        ".size edgediff_dsp_pair_rows, . - edgediff_dsp_pair_rows",
        second = const super::PAIR_OFFSET - 8,
        second_hi = const super::PAIR_OFFSET - 4,
    );

    // Registers of the quad kernel's loop: r4-r7 the sums of rows 0-3; r8 r9 a widened weight
    // pair; r0 lr patch words; r1 the patch, r12 its end; r2 r3 r10 r11 the four weight rows.
    // The stack holds the stride, the first row of the block, the blocks left, the output and the
    // patch start.
    global_asm!(
        ".section .text.edgediff_dsp_quad_rows,\"ax\",%progbits",
        ".global edgediff_dsp_quad_rows",
        ".type edgediff_dsp_quad_rows,%function",
        ".p2align 2",
        ".thumb_func",
        "edgediff_dsp_quad_rows:",
        "push {{r4-r11, lr}}",
        "sub sp, sp, #20",
        "ldrd r1, r2, [r0, #0]",
        "ldrd r3, r12, [r0, #8]",
        "ldrd r4, r5, [r0, #16]",
        "str r3, [sp, #0]",
        "str r2, [sp, #4]",
        "str r4, [sp, #8]",
        "str r5, [sp, #12]",
        "str r1, [sp, #16]",
        "add r12, r1, r12, lsl #3",
        "2:",
        "ldr r0, [sp, #0]",
        "ldr r2, [sp, #4]",
        "add r3, r2, r0",
        "add r10, r3, r0",
        "add r11, r10, r0",
        "add r0, r11, r0",
        "str r0, [sp, #4]",
        "movs r4, #0",
        "movs r5, #0",
        "movs r6, #0",
        "movs r7, #0",
        "3:",
        "ldrd r0, lr, [r1], #8",
        "ldr r8, [r2], #4",
        "sxtb16 r9, r8, ror #8",
        "sxtb16 r8, r8",
        "smlad r4, r0, r8, r4",
        "smlad r4, lr, r9, r4",
        "ldr r8, [r3], #4",
        "sxtb16 r9, r8, ror #8",
        "sxtb16 r8, r8",
        "smlad r5, r0, r8, r5",
        "smlad r5, lr, r9, r5",
        "ldr r8, [r10], #4",
        "sxtb16 r9, r8, ror #8",
        "sxtb16 r8, r8",
        "smlad r6, r0, r8, r6",
        "smlad r6, lr, r9, r6",
        "ldr r8, [r11], #4",
        "sxtb16 r9, r8, ror #8",
        "sxtb16 r8, r8",
        "smlad r7, r0, r8, r7",
        "smlad r7, lr, r9, r7",
        "cmp r1, r12",
        "bne 3b",
        "ldr r0, [sp, #12]",
        "stmia r0!, {{r4-r7}}",
        "str r0, [sp, #12]",
        "ldr r1, [sp, #16]",
        "ldr r0, [sp, #8]",
        "subs r0, r0, #1",
        "str r0, [sp, #8]",
        "bne 2b",
        "add sp, sp, #20",
        "pop {{r4-r11, pc}}",
        ".size edgediff_dsp_quad_rows, . - edgediff_dsp_quad_rows",
    );
}
