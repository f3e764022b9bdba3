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
//!   of patch words, 8 `SMLAD`, and (the loop unrolled twice) 1 of loop control: 18
//!   instructions for 16 MACs. Each
//!   widened weight word feeds both pixels, as in CMSIS-NN's `arm_nn_mat_mult_kernel_s8_s16`.
//! - [`quad_rows`]: one patch (a linear layer, or a leftover pixel) against four weight
//!   rows. Per 4 taps: 1 `LDRD` of patch words, then per row 1 load, 2 `SXTB16` and 2
//!   `SMLAD`, and 1 of loop control: 22 instructions for 16 MACs.
//!
//! Both cover whole groups of 4 taps; the caller adds the remaining taps. Either kernel
//! stores its sums, or (when the taps are a multiple of 4, so no remainder is left) adds the
//! bias and requantizes them itself: `VCVT`, `VMUL`, `VCVTR`, `QADD` of the zero point,
//! `SSAT` and the ReLU floor, 10 instructions per output. That is
//! [`crate::kernels::quant::requantize`] for every finite multiplier, which the caller
//! checks; the kernels therefore need the FPU as well as the DSP extension.

use super::dot::Int8Out;
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

/// `a - b` in each signed halfword (wrapping).
#[inline(always)]
#[allow(unsafe_code)]
pub fn ssub16(a: u32, b: u32) -> u32 {
    let r: u32;
    // SAFETY: register-only, as above (it sets the GE flags, which nothing here reads).
    unsafe {
        asm!("ssub16 {r}, {a}, {b}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b,
             options(pure, nomem, nostack));
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

/// What one call of an assembly kernel reads (its only argument, in `r0`; offsets in the
/// assembly).
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
    /// Where the sums go, 4 per block (when `y` is null).
    sums: *mut i32,
    /// Where the requantized outputs go: row `r`, pixel `i` at `y[r * y_stride + i]`; null
    /// for sums.
    y: *mut i8,
    /// Bytes between the outputs of two rows.
    y_stride: usize,
    /// One bias per row.
    bias: *const i32,
    /// One multiplier per row (finite).
    m: *const f32,
    /// Output zero point.
    zero_point: i32,
    /// The lowest output (the zero point with a fused ReLU, else -128).
    lo: i32,
}

/// Where a kernel's results go.
pub enum Out<'a> {
    /// The raw sums, 4 per block: `[r0 p0, r0 p1, r1 p0, r1 p1]` for a pair kernel,
    /// `[r0, r1, r2, r3]` for a quad kernel.
    Sums(&'a mut [i32]),
    /// Requantized int8 outputs.
    Int8(Int8Out<'a>),
}

/// The pair kernel: two patches (the second [`PAIR_OFFSET`] bytes after the first) against
/// weight rows `0..2 * blocks` of `stride` bytes, over the first `4 * groups` taps. Returns
/// false, doing nothing, when the operands do not fit that shape.
pub fn pair_rows(
    patch: &[i16],
    weights: &[u8],
    (stride, groups, blocks): (usize, usize, usize),
    out: Out<'_>,
) -> bool {
    let fits = patch.len() >= PAIR_OFFSET / 2 + 4 * groups
        && weights.len() >= 2 * blocks * stride
        && fits_out(&out, 2 * blocks, 2, 4 * blocks);
    fits && run(
        edgediff_dsp_pair_rows,
        patch,
        weights,
        (stride, groups, blocks),
        out,
    )
}

/// The quad kernel: one patch against weight rows `0..4 * blocks` of `stride` bytes, over
/// the first `4 * groups` taps. Returns false, doing nothing, when the operands do not fit
/// that shape.
pub fn quad_rows(
    patch: &[i16],
    weights: &[u8],
    (stride, groups, blocks): (usize, usize, usize),
    out: Out<'_>,
) -> bool {
    let fits = patch.len() >= 4 * groups
        && weights.len() >= 4 * blocks * stride
        && fits_out(&out, 4 * blocks, 1, 4 * blocks);
    fits && run(
        edgediff_dsp_quad_rows,
        patch,
        weights,
        (stride, groups, blocks),
        out,
    )
}

/// Whether `out` takes `rows` rows of `pixels` outputs (or `sums` sums).
fn fits_out(out: &Out<'_>, rows: usize, pixels: usize, sums: usize) -> bool {
    match out {
        Out::Sums(s) => s.len() >= sums,
        Out::Int8(q) => {
            let last = (rows - 1).checked_mul(q.stride);
            q.bias.len() >= rows
                && q.m.len() >= rows
                && q.m[..rows].iter().all(|m| m.is_finite())
                && last.is_some_and(|l| l.saturating_add(pixels) <= q.y.len())
        }
    }
}

/// Calls an assembly kernel on operands checked against the shape; checks the rest.
#[allow(unsafe_code)]
fn run(
    kernel: unsafe extern "C" fn(*const Job),
    patch: &[i16],
    weights: &[u8],
    (stride, groups, blocks): (usize, usize, usize),
    out: Out<'_>,
) -> bool {
    if groups == 0 || blocks == 0 || 4 * groups > stride || patch.as_ptr().align_offset(4) != 0 {
        return false;
    }
    let mut job = Job {
        patch: patch.as_ptr(),
        weights: weights.as_ptr(),
        stride,
        groups,
        blocks,
        sums: core::ptr::null_mut(),
        y: core::ptr::null_mut(),
        y_stride: 0,
        bias: core::ptr::null(),
        m: core::ptr::null(),
        zero_point: 0,
        lo: 0,
    };
    match out {
        Out::Sums(s) => job.sums = s.as_mut_ptr(),
        Out::Int8(q) => {
            job.y = q.y.as_mut_ptr();
            job.y_stride = q.stride;
            job.bias = q.bias.as_ptr();
            job.m = q.m.as_ptr();
            job.zero_point = q.zero_point;
            job.lo = i32::from(q.lo);
        }
    }
    // SAFETY: the callers checked that every address the kernel reads lies in `patch` (the
    // 4 * groups taps of each patch, the second at PAIR_OFFSET bytes) and `weights` (4 * groups
    // bytes of each of the block rows, stride bytes apart), that the patch is 4-byte aligned
    // for LDRD, and that the sums (4 per block), or the outputs (row r, pixel i at
    // y[r * y_stride + i]), biases and multipliers (one per row) are within their slices;
    // groups and blocks are at least 1, which the loops need. The kernels follow the AAPCS:
    // they save r4-r11 and lr, use only s0-s5 of the FPU registers, and restore sp.
    unsafe { kernel(&job) };
    true
}

#[cfg(not(target_feature = "fpregs"))]
compile_error!("the `dsp` kernels requantize with the FPU: build for a target with one");

/// The assembly kernels and their declarations.
#[allow(unsafe_code)]
mod kernels {
    use core::arch::global_asm;

    unsafe extern "C" {
        pub fn edgediff_dsp_pair_rows(job: *const super::Job);
        pub fn edgediff_dsp_quad_rows(job: *const super::Job);
    }

    // Both kernels keep on the stack: 0 the stride, 4 the weight step between blocks (pair)
    // or the first row of the block (quad), 8 the blocks left, 12 the sums pointer, 16 the
    // patch start, 20 the output stride, 24 the output pointer (0: store sums), 28 the bias
    // pointer, 32 the multiplier pointer, 36 the zero point, 40 the lowest output.
    //
    // `edgediff_requant acc, m`: acc = max(ssat8(vcvtr(f32(acc) * m) + zero point), lo),
    // with the zero point in r8 and lo in r9.
    // Assembled as ARMv7E-M (with the DSP extension) for the single-precision FPU of the
    // Cortex-M4F: module assembly does not see the target CPU's features, and ARMv8-M
    // Mainline has the extension only as an option (which the Cortex-M33 has). These
    // instructions encode the same on the M7 and the M33.
    global_asm!(
        ".arch armv7e-m",
        ".fpu fpv4-sp-d16",
        ".macro edgediff_requant acc, mul",
        "vmov s0, \\acc",
        "vcvt.f32.s32 s0, s0",
        "vmul.f32 s0, s0, \\mul",
        "vcvtr.s32.f32 s0, s0",
        "vmov \\acc, s0",
        "qadd \\acc, \\acc, r8",
        "ssat \\acc, #8, \\acc",
        "cmp \\acc, r9",
        "it lt",
        "movlt \\acc, r9",
        ".endm",
        ".macro edgediff_prologue",
        "push {{r4-r11, lr}}",
        "sub sp, sp, #48",
        "ldrd r6, r7, [r0, #24]",
        "str r6, [sp, #24]",
        "str r7, [sp, #20]",
        "ldrd r6, r7, [r0, #32]",
        "str r6, [sp, #28]",
        "str r7, [sp, #32]",
        "ldrd r6, r7, [r0, #40]",
        "str r6, [sp, #36]",
        "str r7, [sp, #40]",
        "ldrd r1, r2, [r0, #0]",
        "ldrd r3, r12, [r0, #8]",
        "ldrd r4, r5, [r0, #16]",
        "str r3, [sp, #0]",
        "str r4, [sp, #8]",
        "str r5, [sp, #12]",
        "str r1, [sp, #16]",
        ".endm",
    );

    // `edgediff_pair4` / `edgediff_quad4`: one group of 4 taps; the loops run them twice
    // (entering at the second for an odd number of groups).
    //
    // Registers of the pair kernel's loop: r4 r5 / r6 r7 the sums of row 0 / row 1 for pixels
    // 0 and 1; r8 r9 / r10 r11 the widened weight pairs of row 0 / row 1; r0 lr patch words; r1
    // the patch, r12 its end; r2 r3 the weight rows.
    global_asm!(
        ".section .text.edgediff_dsp_pair_rows,\"ax\",%progbits",
        ".global edgediff_dsp_pair_rows",
        ".type edgediff_dsp_pair_rows,%function",
        ".p2align 2",
        ".thumb_func",
        ".macro edgediff_pair4",
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
        ".endm",
        "edgediff_dsp_pair_rows:",
        "edgediff_prologue",
        "lsls r6, r3, #1",
        "sub r6, r6, r12, lsl #2",
        "str r6, [sp, #4]",
        "add r12, r1, r12, lsl #3",
        "2:",
        "ldr r3, [sp, #0]",
        "add r3, r2, r3",
        "movs r4, #0",
        "movs r5, #0",
        "movs r6, #0",
        "movs r7, #0",
        "subs r0, r12, r1",
        "tst r0, #8",
        "bne 6f",
        "3:",
        "edgediff_pair4",
        "6:",
        "edgediff_pair4",
        "cmp r1, r12",
        "bne 3b",
        "ldr r0, [sp, #24]",
        "cmp r0, #0",
        "beq 4f",
        "ldr r1, [sp, #28]",
        "ldr r8, [r1], #4",
        "ldr r9, [r1], #4",
        "str r1, [sp, #28]",
        "add r4, r4, r8",
        "add r5, r5, r8",
        "add r6, r6, r9",
        "add r7, r7, r9",
        "ldr r1, [sp, #32]",
        "vldmia r1!, {{s2-s3}}",
        "str r1, [sp, #32]",
        "ldr r8, [sp, #36]",
        "ldr r9, [sp, #40]",
        "ldr r10, [sp, #20]",
        "edgediff_requant r4, s2",
        "edgediff_requant r5, s2",
        "edgediff_requant r6, s3",
        "edgediff_requant r7, s3",
        "strb r4, [r0]",
        "strb r5, [r0, #1]",
        "add r0, r0, r10",
        "strb r6, [r0]",
        "strb r7, [r0, #1]",
        "add r0, r0, r10",
        "str r0, [sp, #24]",
        "b 5f",
        "4:",
        "ldr r0, [sp, #12]",
        "stmia r0!, {{r4-r7}}",
        "str r0, [sp, #12]",
        "5:",
        "ldr r0, [sp, #4]",
        "add r2, r2, r0",
        "ldr r1, [sp, #16]",
        "ldr r0, [sp, #8]",
        "subs r0, r0, #1",
        "str r0, [sp, #8]",
        "bne 2b",
        "add sp, sp, #48",
        "pop {{r4-r11, pc}}",
        ".size edgediff_dsp_pair_rows, . - edgediff_dsp_pair_rows",
        second = const super::PAIR_OFFSET - 8,
        second_hi = const super::PAIR_OFFSET - 4,
    );

    // Registers of the quad kernel's loop: r4-r7 the sums of rows 0-3; r8 r9 a widened weight
    // pair; r0 lr patch words; r1 the patch, r12 its end; r2 r3 r10 r11 the four weight rows.
    global_asm!(
        ".section .text.edgediff_dsp_quad_rows,\"ax\",%progbits",
        ".global edgediff_dsp_quad_rows",
        ".type edgediff_dsp_quad_rows,%function",
        ".p2align 2",
        ".thumb_func",
        ".macro edgediff_quad4",
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
        ".endm",
        "edgediff_dsp_quad_rows:",
        "edgediff_prologue",
        "str r2, [sp, #4]",
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
        "subs r0, r12, r1",
        "tst r0, #8",
        "bne 6f",
        "3:",
        "edgediff_quad4",
        "6:",
        "edgediff_quad4",
        "cmp r1, r12",
        "bne 3b",
        "ldr r0, [sp, #24]",
        "cmp r0, #0",
        "beq 4f",
        "ldr r1, [sp, #28]",
        "ldmia r1!, {{r3, r8, r9, r10}}",
        "str r1, [sp, #28]",
        "add r4, r4, r3",
        "add r5, r5, r8",
        "add r6, r6, r9",
        "add r7, r7, r10",
        "ldr r1, [sp, #32]",
        "vldmia r1!, {{s2-s5}}",
        "str r1, [sp, #32]",
        "ldr r8, [sp, #36]",
        "ldr r9, [sp, #40]",
        "ldr r10, [sp, #20]",
        "edgediff_requant r4, s2",
        "edgediff_requant r5, s3",
        "edgediff_requant r6, s4",
        "edgediff_requant r7, s5",
        "strb r4, [r0]",
        "add r0, r0, r10",
        "strb r5, [r0]",
        "add r0, r0, r10",
        "strb r6, [r0]",
        "add r0, r0, r10",
        "strb r7, [r0]",
        "add r0, r0, r10",
        "str r0, [sp, #24]",
        "b 5f",
        "4:",
        "ldr r0, [sp, #12]",
        "stmia r0!, {{r4-r7}}",
        "str r0, [sp, #12]",
        "5:",
        "ldr r1, [sp, #16]",
        "ldr r0, [sp, #8]",
        "subs r0, r0, #1",
        "str r0, [sp, #8]",
        "bne 2b",
        "add sp, sp, #48",
        "pop {{r4-r11, pc}}",
        ".size edgediff_dsp_quad_rows, . - edgediff_dsp_quad_rows",
    );
}
