#!/usr/bin/env bash
# The main job, set-up included: bootstrap (idempotent), then `crucible demo`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/bootstrap.sh
export PATH="$root/.venv/bin:$root/tools/node_modules/.bin:$PATH"
exec crucible demo "$@"
