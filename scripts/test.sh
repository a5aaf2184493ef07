#!/usr/bin/env bash
#! The one test command (`make test`): bootstrap, then every check and test the project has.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

step() { printf '\n\033[1m==> %s\033[0m (%s)\n' "$*" "$(date +%T)"; }
LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
# Runs a test command, keeping its output for the closing count.
counted() { "$@" 2>&1 | tee -a "$LOG"; }

step "bootstrap"
df -h "$ROOT" | awk 'NR == 2 { print "disk: " $4 " free of " $2 }'
bash scripts/bootstrap.sh

step "format"
cargo fmt --all --check

# Clippy lints every workspace crate (-D warnings) while the builds below compile it: its driver
# is the workspace's compiler wrapper, the way `cargo clippy` drives it, so the dependencies are
# compiled once for the tests instead of once more, in check mode, for the lints.
CLIPPY_DRIVER="$(command -v clippy-driver || true)"
[ -x "$CLIPPY_DRIVER" ] || { echo "clippy-driver is missing: run scripts/bootstrap.sh" >&2; exit 1; }
linted() {
  RUSTC_WORKSPACE_WRAPPER="$CLIPPY_DRIVER" \
    CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__" "$@"
}
if [ -f "$ROOT/.tools/wasm-build-std" ]; then
  # (The Debian fallback's wasm compiler is not the toolchain's clippy: lint the page natively.)
  cargo clippy --locked -p cipherdrop-web --all-targets -- -D warnings
  web_linted() { "$@"; }
else
  web_linted() { linted "$@"; }
fi

step "cipherdrop-core builds alone for wasm32-unknown-unknown"
wasm_env cargo build --locked -p cipherdrop-core --target wasm32-unknown-unknown

step "web bundle builds with Trunk (the end-to-end tests serve it)"
wasm_env trunk build

step "web bundle within its size budget (web/bundle-budget.json)"
node scripts/bundle-budget.mjs dist

step "lints and the native build: every target of every crate but the wasm-only web app"
linted cargo test --locked --all-targets --no-run

step "native tests: core, CLI, backend, official vectors, interop with the official Python ESDK, the page in Chromium"
counted linted cargo test --locked   # the default members: every crate but the wasm-only web app

step "browser tests (and the page's lints): core and the web app in headless Chromium"
(cd web && CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  counted web_linted wasm_env cargo test --locked --target wasm32-unknown-unknown -p cipherdrop-web)

step "fuzz smoke run (${FUZZ_SECONDS:=10} s per target)"
FUZZ_SECONDS="$FUZZ_SECONDS" bash scripts/fuzz-smoke.sh

step "all tests passed"
# One closing line for the whole run, summed over every cargo test binary above.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$LOG"
