#!/usr/bin/env bash
# The whole test suite (README's test command). Installs nothing by hand: everything it needs
# is provisioned here, so it runs the same on a fresh machine and in CI.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "format"
cargo fmt --all -- --check

step "clippy (workspace, all targets, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

step "runtime builds as no_std without alloc"
cargo build -p edgediff-runtime --no-default-features
if cargo tree -p edgediff-runtime --no-default-features -e normal --prefix none \
    | grep -E -i '^(alloc|std|libm|allocator)' ; then
  echo "the no_std runtime pulls in an allocator or std" >&2
  exit 1
fi
if grep -R -n -E 'extern crate alloc|alloc::' runtime/src ; then
  echo "the runtime must not use alloc" >&2
  exit 1
fi

step "tests"
cargo test --workspace
