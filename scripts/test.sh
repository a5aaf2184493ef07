#!/usr/bin/env bash
#! The one test command (`make test`): bootstrap, then every check and test the project has.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

step() { printf '\n\033[1m==> %s\033[0m (%s)\n' "$*" "$(date +%T)"; }

step "bootstrap"
bash scripts/bootstrap.sh

step "format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cipherdrop-core builds alone for wasm32-unknown-unknown"
wasm_env cargo build --locked -p cipherdrop-core --target wasm32-unknown-unknown

step "native tests: core, CLI, official vectors, interop with the official Python ESDK"
cargo test --workspace --locked

step "browser tests: core and the web app in headless Chromium"
(cd web && CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  wasm_env cargo test --locked --target wasm32-unknown-unknown -p cipherdrop-web)

step "web bundle builds with Trunk"
wasm_env trunk build

step "fuzz smoke run (${FUZZ_SECONDS:=10} s per target)"
for target in header decrypt_stream tamper_roundtrip; do
  seeds="fuzz/seeds/$target"
  corpus="$(mktemp -d)"
  [ -d "$seeds" ] && cp "$seeds"/* "$corpus"/
  cargo +nightly fuzz run "$target" "$corpus" -- -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=1024 2>&1 | tail -n 2
  rm -rf "$corpus"
done

step "all tests passed"
