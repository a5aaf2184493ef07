#!/usr/bin/env bash
#! Sourced by the other scripts: puts the bootstrap's tools on PATH and picks the wasm toolchain.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$ROOT/.tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-120}"
# A one-off build on CI gains nothing from incremental caches, which would take gigabytes of disk.
if [ "${CI:-}" = "true" ]; then export CARGO_INCREMENTAL=0; fi
export CIPHERDROP_PYTHON="${CIPHERDROP_PYTHON:-$ROOT/.tools/venv/bin/python}"
# Debian fallback (scripts/bootstrap.sh marks it): compile std for wasm32 with build-std.
if [ -f "$ROOT/.tools/wasm-build-std" ]; then
  wasm_env() {
    RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 \
      CARGO_UNSTABLE_BUILD_STD=std,panic_abort CARGO_TARGET_DIR="$ROOT/target/wasm-build-std" "$@"
  }
else
  wasm_env() { "$@"; }
fi
