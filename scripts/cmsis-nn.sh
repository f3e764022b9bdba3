#!/usr/bin/env bash
# Measures edgediff's Cortex-M4 conv / linear kernels side by side with ARM's CMSIS-NN, on
# the layer shapes of every shipped model, under the same QEMU and the same instruction
# counter (firmware feature `cmsis-nn`, firmware/src/cmsis_nn.rs). CI does not run this.
#
# usage: scripts/cmsis-nn.sh CMSIS_NN_DIR CMSIS_CORE_INCLUDE_DIR
#
#   CMSIS_NN_DIR            a checkout of https://github.com/ARM-software/CMSIS-NN
#   CMSIS_CORE_INCLUDE_DIR  CMSIS/Core/Include of https://github.com/ARM-software/CMSIS_6
#                           (cmsis_compiler.h)
#
# CMSIS-NN's C sources are compiled from the checkout (nothing of it is copied here) with
# clang 19 for the Cortex-M4F (-O3, DSP extension on, as `arm_nn_math_types.h` selects from
# __ARM_FEATURE_DSP) into target/cmsis-nn/libcmsisnn.a. Its `memcpy` / `memset` calls (a few
# bytes at a time in its im2col) are inlined as word copies by a freestanding string.h written
# here, standing in for a toolchain's optimized memcpy: through compiler_builtins' out-of-line
# memcpy, copies took 60% of CMSIS-NN's instructions. The per-layer lines land in
# target/cmsis-nn/<model>.txt, which `cargo run -p edgediff-tests --bin bench-report` puts in
# BENCHMARKS.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
[ $# -eq 2 ] || { sed -n '2,20p' "$0" >&2; exit 2; }
nn="$(realpath "$1")"
core="$(realpath "$2")"
[ -f "$nn/Include/arm_nnfunctions.h" ] || { echo "cmsis-nn.sh: $nn is not a CMSIS-NN checkout" >&2; exit 2; }
[ -f "$core/cmsis_compiler.h" ] || { echo "cmsis-nn.sh: $core has no cmsis_compiler.h" >&2; exit 2; }

if ! command -v clang-19 >/dev/null || ! command -v llvm-ar-19 >/dev/null; then
  echo "cmsis-nn.sh: installing clang-19 and llvm-19" >&2
  apt-get install -y --no-install-recommends clang-19 llvm-19 >&2 \
    || { apt-get update >&2 && apt-get install -y --no-install-recommends clang-19 llvm-19 >&2; }
fi

out="$root/target/cmsis-nn"
rm -rf "$out/obj" "$out/libcmsisnn.a"
mkdir -p "$out/obj" "$out/include"
cat > "$out/include/string.h" <<'EOF'
/* Freestanding string.h for CMSIS-NN under scripts/cmsis-nn.sh: memcpy / memset as inline
   word loops (unaligned word access is allowed on ARMv7E-M). */
#pragma once
#include <stddef.h>
#include <stdint.h>
static inline void *edgediff_memcpy(void *dst, const void *src, size_t n)
{
    uint8_t *d = (uint8_t *)dst;
    const uint8_t *s = (const uint8_t *)src;
    for (; n >= 4; n -= 4, d += 4, s += 4)
    {
        uint32_t w;
        __builtin_memcpy(&w, s, 4);
        __builtin_memcpy(d, &w, 4);
    }
    for (; n > 0; n--)
        *d++ = *s++;
    return dst;
}
static inline void *edgediff_memset(void *dst, int v, size_t n)
{
    uint8_t *d = (uint8_t *)dst;
    uint32_t w = 0x01010101u * (uint8_t)v;
    for (; n >= 4; n -= 4, d += 4)
        __builtin_memcpy(d, &w, 4);
    for (; n > 0; n--)
        *d++ = (uint8_t)v;
    return dst;
}
#define memcpy edgediff_memcpy
#define memset edgediff_memset
void *memmove(void *, const void *, size_t);
EOF

# What arm_convolve_s8 and arm_fully_connected_per_channel_s8 need on a DSP core.
sources=(
  ConvolutionFunctions/arm_convolve_s8.c
  ConvolutionFunctions/arm_convolve_get_buffer_sizes_s8.c
  ConvolutionFunctions/arm_nn_mat_mult_kernel_s8_s16.c
  ConvolutionFunctions/arm_nn_mat_mult_kernel_row_offset_s8_s16.c
  FullyConnectedFunctions/arm_fully_connected_per_channel_s8.c
  NNSupportFunctions/arm_nn_vec_mat_mult_t_per_ch_s8.c
  NNSupportFunctions/arm_nn_mat_mult_nt_t_s8.c
  NNSupportFunctions/arm_q7_to_q15_with_offset.c
  NNSupportFunctions/arm_s8_to_s16_unordered_with_offset.c
)
for s in "${sources[@]}"; do
  clang-19 --target=thumbv7em-none-eabihf -mcpu=cortex-m4 -mfpu=fpv4-sp-d16 -mfloat-abi=hard \
    -O3 -ffreestanding -fno-builtin -ffunction-sections -fdata-sections \
    -I "$out/include" -I "$nn/Include" -I "$core" \
    -c "$nn/Source/$s" -o "$out/obj/$(basename "$s" .c).o"
done
llvm-ar-19 rcs "$out/libcmsisnn.a" "$out"/obj/*.o
echo "cmsis-nn.sh: built $out/libcmsisnn.a from $(git -C "$nn" rev-parse --short HEAD 2>/dev/null || echo "$nn")" >&2

for model in two-moons two-moons-flow digits-mlp digits-unet digits-attn ecg-unet1d; do
  EDGEDIFF_CMSIS_NN_LIB="$out/libcmsisnn.a" "$root/scripts/firmware.sh" --model "$model" \
    --samples 1 --features cmsis-nn | grep '^cmsis op' > "$out/$model.txt"
  echo "== $model" && cat "$out/$model.txt"
done
