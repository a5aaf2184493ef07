#!/usr/bin/env bash
#! Builds the official AWS Encryption SDK for JavaScript (browser) into one classic script for the browser benchmark.
# Output: target/bench-js/aws-crypto-bench.bundle.js, an IIFE that defines globalThis.awsCryptoBench
# (see bench/js/aws-crypto-bench.js); a WebDriver test injects it with execute_script(<contents>).
# Idempotent: `npm ci` only when bench/js/node_modules is missing or older than the lockfile, and
# esbuild only when the source, package files or this script are newer than the bundle.
# The last stdout line is the bundle's absolute path; everything else goes to stderr.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

JS="$ROOT/bench/js"
OUT_DIR="$ROOT/target/bench-js"
BUNDLE="$OUT_DIR/aws-crypto-bench.bundle.js"
SHIM="$OUT_DIR/buffer-global.js"
ESBUILD="$JS/node_modules/.bin/esbuild"
log() { printf '\033[1m[bench-js]\033[0m %s\n' "$*" >&2; }

# 1. Dependencies, exactly as locked. npm keeps its own copy of the lock in node_modules/.package-lock.json.
installed="$JS/node_modules/.package-lock.json"
if [ ! -f "$installed" ] || [ ! -x "$ESBUILD" ] \
  || [ "$JS/package-lock.json" -nt "$installed" ] || [ "$JS/package.json" -nt "$installed" ]; then
  log "npm ci --prefix bench/js"
  npm ci --prefix "$JS" --no-audit --no-fund >&2
  touch "$installed"
fi

# 2. The SDK calls Buffer.from(...) as a Node global. esbuild's inject replaces every free `Buffer`
# in the bundle with the npm `buffer` package's export (bundle-local: the page's globals stay untouched).
# The inject file needs ESM exports, so it is generated here rather than pointing at buffer's CJS index.
mkdir -p "$OUT_DIR"
shim_src="export { Buffer } from '$JS/node_modules/buffer/index.js'"
if [ ! -f "$SHIM" ] || [ "$(cat "$SHIM")" != "$shim_src" ]; then
  printf '%s\n' "$shim_src" > "$SHIM"
fi

# 3. The bundle, rebuilt only when an input is newer.
rebuild=0
for input in "$JS/aws-crypto-bench.js" "$JS/package-lock.json" "$JS/package.json" "$installed" \
  "$ROOT/scripts/bench-js.sh" "$SHIM"; do
  if [ ! -f "$BUNDLE" ] || [ "$input" -nt "$BUNDLE" ]; then rebuild=1; fi
done
if [ "$rebuild" = 1 ]; then
  log "esbuild $("$ESBUILD" --version): bench/js/aws-crypto-bench.js -> ${BUNDLE#"$ROOT"/}"
  "$ESBUILD" "$JS/aws-crypto-bench.js" --bundle --format=iife --platform=browser --target=chrome120 \
    --minify --inject:"$SHIM" --log-level=warning --outfile="$BUNDLE.tmp"
  mv -f "$BUNDLE.tmp" "$BUNDLE"
  log "bundle: $(wc -c < "$BUNDLE") bytes"
else
  log "bundle up to date"
fi
echo "$BUNDLE"
