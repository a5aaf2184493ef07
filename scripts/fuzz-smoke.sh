#!/usr/bin/env bash
#! `make fuzz-smoke` (also a step of `make test`): each cargo-fuzz target for FUZZ_SECONDS (10 s).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
: "${FUZZ_SECONDS:=10}"
rustup toolchain list | grep -q '^nightly' || { echo "no nightly toolchain: cargo fuzz needs one" >&2; exit 1; }
command -v cargo-fuzz >/dev/null || bash scripts/bootstrap.sh
for target in header decrypt_stream tamper_roundtrip; do
  seeds="fuzz/seeds/$target"
  corpus="$(mktemp -d)"
  [ -d "$seeds" ] && cp "$seeds"/* "$corpus"/
  cargo +nightly fuzz run "$target" "$corpus" -- -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=1024 2>&1 | tail -n 2
  rm -rf "$corpus"
done
