#!/usr/bin/env bash
#! `make run-cluster`: Cipherdrop as a team runs it, on this machine. A PostgreSQL cluster of its
#! own (no system service), the embedded KMS and S3 as processes of their own, and three
#! replicas sharing all three on http://127.0.0.1:8080, :8082 and :8083 (a session from one works
#! on all). Data stays under data-cluster/ for the next run; Ctrl-C stops everything.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
bash scripts/bootstrap.sh
wasm_env trunk build --release
cargo build --locked --release -p cipherdrop-cli

BIN="$ROOT/target/release/cipherdrop"
DIR="$(mkdir -p "${DATA_DIR:-data-cluster}" && cd "${DATA_DIR:-data-cluster}" && pwd)"
PG_PORT="${PG_PORT:-5433}"
KMS_PORT="${KMS_PORT:-8090}"
S3_PORT="${S3_PORT:-8081}"
PORTS=(8080 8082 8083)
PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
chmod 700 "$DIR"

# PostgreSQL refuses to run as root: then it runs as nobody, in a folder nobody owns.
AS=()
if [ "$(id -u)" = 0 ]; then
  AS=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  chmod 711 "$DIR"
fi
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

if [ ! -f "$DIR/pg/PG_VERSION" ]; then
  mkdir -p "$DIR/pg"
  head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$DIR/superuser-password"
  head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$DIR/db-password"
  chmod 600 "$DIR/superuser-password" "$DIR/db-password"
  if [ ${#AS[@]} -gt 0 ]; then
    chown 65534:65534 "$DIR/pg" && cp "$DIR/superuser-password" "$DIR/pg.pw" && chown 65534 "$DIR/pg.pw"
  else
    cp "$DIR/superuser-password" "$DIR/pg.pw"
  fi
  "${AS[@]}" "$PGBIN/initdb" -D "$DIR/pg" -U postgres --auth=scram-sha-256 --no-locale -E UTF8 \
    --pwfile="$DIR/pg.pw" >/dev/null
  rm -f "$DIR/pg.pw"
  NEW_CLUSTER=1
fi
"${AS[@]}" "$PGBIN/postgres" -D "$DIR/pg" -p "$PG_PORT" -c listen_addresses=127.0.0.1 \
  -c unix_socket_directories= 2>>"$DIR/postgres.log" &
pids+=($!)
SUPER="postgres://postgres:$(cat "$DIR/superuser-password")@127.0.0.1:$PG_PORT/postgres"
for _ in $(seq 100); do psql "$SUPER" -qAtc 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2; done
if [ "${NEW_CLUSTER:-0}" = 1 ]; then
  psql "$SUPER" -qc "CREATE ROLE cipherdrop LOGIN PASSWORD '$(cat "$DIR/db-password")'"
  psql "$SUPER" -qc "CREATE DATABASE cipherdrop OWNER cipherdrop"
fi
export CIPHERDROP_DATABASE_URL="postgres://cipherdrop:$(cat "$DIR/db-password")@127.0.0.1:$PG_PORT/cipherdrop"

# The KMS, then S3 with the same key pair, so one AWS credential chain serves both.
"$BIN" kms serve --listen "127.0.0.1:$KMS_PORT" --data-dir "$DIR/kms" >/dev/null &
pids+=($!)
for _ in $(seq 100); do [ -s "$DIR/kms/credentials.json" ] && break; sleep 0.1; done
mkdir -p "$DIR/s3"
[ -s "$DIR/s3/credentials.json" ] || cp "$DIR/kms/credentials.json" "$DIR/s3/credentials.json"
CORS=()
for p in "${PORTS[@]}"; do CORS+=(--cors-origin "http://127.0.0.1:$p"); done
"$BIN" s3 serve --listen "127.0.0.1:$S3_PORT" --data-dir "$DIR/s3" --bucket cipherdrop "${CORS[@]}" >/dev/null &
pids+=($!)
eval "$("$BIN" kms credentials --data-dir "$DIR/kms")"
export AWS_ENDPOINT_URL_KMS="http://127.0.0.1:$KMS_PORT"
"$ROOT/.tools/venv/bin/python" - <<'EOF'
import boto3
kms = boto3.client("kms")
if not any(a["AliasName"] == "alias/cipherdrop" for a in kms.list_aliases()["Aliases"]):
    key = kms.create_key(Description="cipherdrop (make run-cluster)")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/cipherdrop", TargetKeyId=key)
EOF

for p in "${PORTS[@]}"; do
  "$BIN" serve --listen "127.0.0.1:$p" --data-dir "$DIR/replica-$p" --web-dir dist \
    --kms-key-id alias/cipherdrop --kms-endpoint "http://127.0.0.1:$KMS_PORT" \
    --s3-bucket cipherdrop --s3-endpoint "http://127.0.0.1:$S3_PORT" --s3-path-style &
  pids+=($!)
  sleep 1
done
echo "Cipherdrop cluster: replicas on http://127.0.0.1:8080/, :8082/, :8083/ on PostgreSQL at" \
  "127.0.0.1:$PG_PORT (data in $DIR/; Ctrl-C stops it)"
wait -n
