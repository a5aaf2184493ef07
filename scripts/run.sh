#!/usr/bin/env bash
#! The one run command (`make run`): bootstrap, build the web bundle, serve it on 127.0.0.1:8080.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
bash scripts/bootstrap.sh
wasm_env trunk build
echo "Cipherdrop: open http://127.0.0.1:${PORT:-8080}/ (Ctrl-C stops it)"
wasm_env trunk serve --address 127.0.0.1 --port "${PORT:-8080}" --no-autoreload --disable-address-lookup
