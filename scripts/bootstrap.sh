#!/usr/bin/env bash
# Installs everything Crucible needs into the checkout, from the package registries only:
#   .venv/               the Python distribution (pyproject.toml) and its pinned dependencies
#   tools/node_modules/  anvil, forge, cast, solcjs and the js-ipfs node (npm, --ignore-scripts)
#   tools/solcx/         where py-solc-x and ape-solidity find the `solc` wrapper (scripts/solc)
#   chromium, chromedriver  Debian's packages, for the explorer's browser tests (apt-get, as root, when missing)
# Idempotent: each part is redone only when its inputs changed, so a warm run takes a second.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

say() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31m[bootstrap] error:\033[0m %s\n' "$*" >&2; exit 1; }

# --- prerequisites -------------------------------------------------------------------------
python=${PYTHON:-python3}
command -v "$python" >/dev/null || die "python3 not found: install Python 3.11 or newer"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "Python 3.11+ is required, found $("$python" --version 2>&1)"
command -v node >/dev/null || die "node not found: install Node.js 20 or newer (it runs solcjs and the IPFS node)"
command -v npm >/dev/null || die "npm not found: install npm (it comes with Node.js)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js 20+ is required, found $(node --version)"
[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || die "the pinned anvil/forge/cast builds are linux-amd64; found $(uname -s)-$(uname -m)"

stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }
digest() { cat "$@" | sha256sum | cut -d' ' -f1; }

# --- npm tools -------------------------------------------------------------------------------
npm_inputs=$(digest tools/package.json tools/package-lock.json)
if ! stamp_ok tools/node_modules/.crucible-stamp "$npm_inputs"; then
  say "installing anvil, forge, cast, solc and the IPFS node from npm (first run: a few minutes)"
  # --ignore-scripts: no install script may download anything from outside the registry.
  (cd tools && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  echo "$npm_inputs" > tools/node_modules/.crucible-stamp
fi
solc_version=$(node -p 'require("./tools/node_modules/solc/package.json").version')
mkdir -p tools/solcx
ln -sf ../../scripts/solc "tools/solcx/solc-v$solc_version"

# --- Python ----------------------------------------------------------------------------------
py_inputs=$(digest pyproject.toml)
if [ ! -x .venv/bin/python ]; then
  say "creating the virtualenv in .venv"
  "$python" -m venv .venv
fi
if ! stamp_ok .venv/.crucible-stamp "$py_inputs"; then
  say "installing the Python distribution and its pinned dependencies (first run: a few minutes)"
  .venv/bin/python -m pip install --quiet --upgrade pip 2>/dev/null || true
  .venv/bin/python -m pip install --quiet -e ".[test,bench]"
  echo "$py_inputs" > .venv/.crucible-stamp
fi
# --- a headless browser for the explorer's tests ----------------------------------------------
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing Debian's chromium and chromium-driver (the explorer's browser tests)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null \
      || die "apt-get install chromium chromium-driver failed (try 'apt-get update' first)"
  else
    say "chromium/chromedriver missing and not root: the explorer's browser tests will be skipped;" \
      "install them with 'sudo apt-get install chromium chromium-driver'"
  fi
fi

say "ready: $(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'), solc $solc_version, $(tools/node_modules/.bin/anvil --version | head -1)"
