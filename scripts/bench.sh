#!/usr/bin/env bash
#! `make bench`: native throughput of cipherdrop-core vs raw aes-gcm and the official Python ESDK.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
bash scripts/bootstrap.sh
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
head -c $((256 << 20)) /dev/urandom > "$work/data"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$CIPHERDROP_PYTHON" bench/esdk_python.py "$work/data" "$work/python.json"
cargo bench --locked -p cipherdrop-core --bench throughput -- "$work/data" "$work/python.json"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
