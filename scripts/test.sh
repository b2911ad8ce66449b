#!/usr/bin/env bash
# The whole test suite, set-up included: bootstrap (idempotent), contract tests (forge), then
# pytest against real anvil and IPFS processes. Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/bootstrap.sh
export PATH="$root/.venv/bin:$root/tools/node_modules/.bin:$PATH"

echo "== ruff (lint and format)"
ruff check .
ruff format --check .

echo "== mypy (strict, every package)"
mypy

echo "== forge test (contracts/test)"
forge test --root "$root"

echo "== pytest"
set +e
python -m pytest "$@"
status=$?
set -e
# pytest exits 5 when it collected no tests: that is a failure of the suite, said plainly.
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests" >&2
  exit 1
fi
exit "$status"
