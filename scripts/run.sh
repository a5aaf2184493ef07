#!/usr/bin/env bash
#! The one run command (`make run`): bootstrap, build the web bundle and the server, then start
#! everything with embedded defaults (KMS + S3 + SQLite under ./data) on http://127.0.0.1:8080.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
bash scripts/bootstrap.sh
wasm_env trunk build --release
cargo build --locked --release -p cipherdrop-cli
echo "Cipherdrop: starting on http://127.0.0.1:${PORT:-8080}/ (data in ${DATA_DIR:-data}/; Ctrl-C stops it)"
exec target/release/cipherdrop serve \
  --listen "127.0.0.1:${PORT:-8080}" --s3-listen "127.0.0.1:${S3_PORT:-8081}" \
  --data-dir "${DATA_DIR:-data}" --web-dir dist
