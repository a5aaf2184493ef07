#!/usr/bin/env bash
#! Page load (`make lighthouse`): Lighthouse 12, mobile preset, headless Chromium, on the login page
#! of a `cipherdrop serve` with the built bundle; three runs, each printed, then the median. Fails
#! when the median performance is below 0.95 or accessibility below 1.0 (the goals).
#! Lighthouse comes from bench/lighthouse (exact versions in its lock file; `npm ci` when missing).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
LH="$ROOT/bench/lighthouse"
RUNS="${RUNS:-3}"
log() { printf '\033[1m[lighthouse]\033[0m %s\n' "$*" >&2; }

installed="$LH/node_modules/.package-lock.json"
if [ ! -f "$installed" ] || [ "$LH/package-lock.json" -nt "$installed" ]; then
  log "npm ci --prefix bench/lighthouse"
  npm ci --prefix "$LH" --no-audit --no-fund --silent >&2
  touch "$installed"
fi
wasm_env trunk build >&2
cargo build --locked -p cipherdrop-cli >&2

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
s3port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
target/debug/cipherdrop serve --listen "127.0.0.1:$port" --s3-listen "127.0.0.1:$s3port" \
  --data-dir "$work/data" --web-dir dist > "$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/" > /dev/null 2>&1 && break
  sleep 0.2
done
log "load: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$RUNS"); do
  CHROME_PATH="$(command -v chromium)" node "$LH/node_modules/lighthouse/cli/index.js" \
    "http://127.0.0.1:$port/" --only-categories=performance,accessibility \
    --chrome-flags="--headless=new --no-sandbox --disable-gpu" \
    --output=json --output-path="$work/run-$i.json" --quiet
done
python3 - "$work" "$RUNS" <<'PY'
import json, statistics, sys
work, runs = sys.argv[1], int(sys.argv[2])
perf, a11y = [], []
for i in range(1, runs + 1):
    r = json.load(open(f"{work}/run-{i}.json"))
    a = r["audits"]
    p, s = r["categories"]["performance"]["score"], r["categories"]["accessibility"]["score"]
    perf.append(p); a11y.append(s)
    print(f"run {i}: performance {p:.2f}, accessibility {s:.2f}; FCP {a['first-contentful-paint']['displayValue']}, "
          f"LCP {a['largest-contentful-paint']['displayValue']}, TBT {a['total-blocking-time']['displayValue']}, "
          f"CLS {a['cumulative-layout-shift']['displayValue']} (Lighthouse {r['lighthouseVersion']}, {r['configSettings']['formFactor']})")
mp, ma = statistics.median(perf), statistics.median(a11y)
print(f"median: performance {mp:.2f} (goal 0.95), accessibility {ma:.2f} (goal 1.00)")
sys.exit(0 if mp >= 0.95 and ma >= 1.0 else 1)
PY
