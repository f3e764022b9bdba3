#!/usr/bin/env bash
# Provides a Rust compiler and linker for an embedded target (default thumbv7em-none-eabihf,
# the Cortex-M4F; scripts/cores.sh lists the others) and prints the environment to build with
# them, one `export` per line (use: eval "$(scripts/cross-env.sh [TARGET])").
#
# - If the rustup target is installed, nothing is needed: the ordinary toolchain (and its
#   rust-lld) is used.
# - Otherwise Debian's rustc-web (every embedded target), rust-web-src (the std sources for
#   -Zbuild-std) and lld-22 (the linker) are unpacked, not installed, under
#   target/cross-toolchain, leaving the system rustc untouched. Needs apt-get (run as root on a
#   fresh machine).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${1:-thumbv7em-none-eabihf}"

if rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  echo "export EDGEDIFF_BUILD_STD="
  exit 0
fi

dir="$root/target/cross-toolchain"
rustc="$dir/usr/bin/rustc"
lld="$dir/usr/lib/llvm-22/bin/ld.lld"
libs="$dir/usr/lib/x86_64-linux-gnu:$dir/usr/lib"
if ! LD_LIBRARY_PATH="$libs" "$rustc" --print target-list 2>/dev/null | grep -qx "$target" \
  || ! LD_LIBRARY_PATH="$libs" "$lld" --version >/dev/null 2>&1; then
  # The candidates of one apt index are built together, so their versions match.
  pkgs=(rustc-web rust-web-src libstd-rust-web-1.96 libstd-rust-web-dev libllvm22 lld-22)
  mkdir -p "$dir/debs"
  (
    cd "$dir/debs"
    if ! apt-get download "${pkgs[@]}" >&2 2>/dev/null; then
      apt-get update >&2
      apt-get download "${pkgs[@]}" >&2
    fi
    for deb in *.deb; do dpkg -x "$deb" "$dir"; done
  )
fi
LD_LIBRARY_PATH="$libs" "$rustc" --version >&2
echo "export RUSTC='$rustc'"
echo "export LD_LIBRARY_PATH='$libs'"
echo "export RUSTC_BOOTSTRAP=1"
echo "export CARGO_TARGET_$(echo "$target" | tr 'a-z.-' 'A-Z__')_LINKER='$lld'"
echo "export EDGEDIFF_BUILD_STD='-Zbuild-std=core'"
