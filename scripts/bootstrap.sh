#!/usr/bin/env bash
#! Idempotent bootstrap: installs everything the build and the tests need on a fresh Debian 12 machine.
# Safe to run again: every step checks first and does nothing when the tool is already there.
# Tools land in ~/.cargo/bin (cargo installs) and .tools/ in the repo (npm wasm-opt, Python venv).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
mkdir -p "$TOOLS"
log() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*" >&2; }

# Pinned versions. wasm-bindgen-cli must equal the wasm-bindgen in Cargo.lock (checked below).
TRUNK_VERSION=0.22.1
BINARYEN_VERSION=132.0.0
CARGO_FUZZ_VERSION=0.13.2
MOTO_VERSION=5.2.5
CFN_LINT_VERSION=1.58.0
STANDARDWEBHOOKS_VERSION=1.3.0
AIOSMTPD_VERSION=1.4.6
ESDK_PY_VERSION=4.0.7
ESDK_CLI_VERSION=4.3.0
export CARGO_NET_RETRY=5

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
}

# BOOTSTRAP_FOR=build (the Containerfile's build stage): only what building the binary and the
# bundle needs. The default, test: everything `make test` uses too.
FOR="${BOOTSTRAP_FOR:-test}"

# 1. Debian packages: pkg-config for -sys crates; for the tests Chromium + driver (browser tests),
# podman with runc and debootstrap (the container test builds and runs the image).
if [ "$FOR" = build ]; then
  apt_install pkg-config
else
  apt_install chromium chromium-driver pkg-config podman runc debootstrap
fi

# 1b. PostgreSQL's server binaries for the cluster tests, which start throwaway clusters of their
# own: no system cluster or service is made (create_main_cluster = false, kept by ucf).
if [ "$FOR" != build ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    $SUDO mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.conf >/dev/null
  fi
  log "apt-get install postgresql"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive UCF_FORCE_CONFFOLD=1 apt-get install -y -qq \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    postgresql postgresql-client util-linux >/dev/null
fi

# The lints: clippy's driver and rustfmt (rustup's default profile has them; add them if not).
for component in clippy rustfmt; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
    timeout 180 rustup component add "$component" >&2 || log "rustup could not add $component"
  fi
done

# 2. The wasm32 standard library: rustup first (with a timeout), else Debian's build-std toolchain.
if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  :
elif timeout 180 rustup target add wasm32-unknown-unknown >&2 \
  && rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "wasm32 target installed via rustup"
else
  log "rustup could not add wasm32; using Debian's rustc-web with build-std"
  apt_install rustc-web cargo-web rust-web-src rust-web-llvm lld-22
  touch "$TOOLS/wasm-build-std"
fi

# 3. Cargo-installed host tools (installed from / so no project config applies).
have_version() { command -v "$1" >/dev/null 2>&1 && "$1" --version 2>/dev/null | grep -q "$2"; }
WB_VERSION="$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/"/,"",$3); print $3}' "$ROOT/Cargo.lock")"
if [ -n "$WB_VERSION" ] && ! have_version wasm-bindgen "$WB_VERSION"; then
  log "cargo install wasm-bindgen-cli $WB_VERSION"
  (cd / && cargo install -q wasm-bindgen-cli --version "$WB_VERSION" --force)
fi
if ! have_version trunk "$TRUNK_VERSION"; then
  log "cargo install trunk $TRUNK_VERSION"
  (cd / && cargo install -q trunk --version "$TRUNK_VERSION" --locked --ignore-rust-version)
fi
if [ "$FOR" != build ] && ! have_version cargo-fuzz "$CARGO_FUZZ_VERSION"; then
  log "cargo install cargo-fuzz $CARGO_FUZZ_VERSION"
  (cd / && cargo install -q cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked)
fi
rustup toolchain list | grep -q '^nightly' || { log "no nightly toolchain: fuzzing needs one"; }

# 4. wasm-opt from npm (Debian's binaryen is too old for current wasm-bindgen output).
if ! "$TOOLS/node_modules/.bin/wasm-opt" --version 2>/dev/null | grep -q "version ${BINARYEN_VERSION%%.*}"; then
  log "npm install binaryen@$BINARYEN_VERSION"
  npm install --silent --no-audit --no-fund --prefix "$TOOLS" "binaryen@$BINARYEN_VERSION" >/dev/null
fi

if [ "$FOR" = build ]; then
  log "ready (build tools only)"
  exit 0
fi

# 5. Python venv with the official AWS Encryption SDK (interop tests).
VENV="$TOOLS/venv"
if ! "$VENV/bin/python" -c "import aws_encryption_sdk, sys; sys.exit(aws_encryption_sdk.__version__ != '$ESDK_PY_VERSION')" 2>/dev/null; then
  log "python venv with aws-encryption-sdk $ESDK_PY_VERSION"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check \
    "aws-encryption-sdk==$ESDK_PY_VERSION"
fi
# moto: a third-party AWS-protocol peer (KMS + S3) for the backend tests.
if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('moto') != '$MOTO_VERSION')" 2>/dev/null; then
  log "moto[server] $MOTO_VERSION"
  "$VENV/bin/pip" install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi

# cfn-lint: the CloudFormation template's linter (the stack test).
if ! "$VENV/bin/cfn-lint" --version 2>/dev/null | grep -q "cfn-lint $CFN_LINT_VERSION"; then
  log "cfn-lint $CFN_LINT_VERSION"
  "$VENV/bin/pip" install -q --disable-pip-version-check "cfn-lint==$CFN_LINT_VERSION"
fi

# standardwebhooks: the reference library that checks our signed webhook deliveries.
if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('standardwebhooks') != '$STANDARDWEBHOOKS_VERSION')" 2>/dev/null; then
  log "standardwebhooks $STANDARDWEBHOOKS_VERSION"
  "$VENV/bin/pip" install -q --disable-pip-version-check "standardwebhooks==$STANDARDWEBHOOKS_VERSION"
fi

# aiosmtpd: a real SMTP server (STARTTLS, AUTH) that the e-mail notification tests send to.
if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('aiosmtpd') != '$AIOSMTPD_VERSION')" 2>/dev/null; then
  log "aiosmtpd $AIOSMTPD_VERSION"
  "$VENV/bin/pip" install -q --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION"
fi

# The official aws-encryption-cli pins an older aws-encryption-sdk (3.x): its own venv.
ECLI_VENV="$TOOLS/ecli-venv"
if ! "$ECLI_VENV/bin/aws-encryption-cli" --version 2>/dev/null | grep -q "aws-encryption-sdk-cli/$ESDK_CLI_VERSION"; then
  log "aws-encryption-sdk-cli $ESDK_CLI_VERSION (own venv)"
  python3 -m venv "$ECLI_VENV"
  "$ECLI_VENV/bin/pip" install -q --disable-pip-version-check "aws-encryption-sdk-cli==$ESDK_CLI_VERSION"
fi

log "ready"
