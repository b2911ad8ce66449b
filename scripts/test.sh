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
# Most of the suite's time is spent waiting on real processes (chain windows, daemons, IPFS), so the
# tests run on several workers (pytest-xdist), handed out one at a time, the longest first (see
# tests/conftest.py). CRUCIBLE_TEST_WORKERS=0 runs them in this process, one after the other.
workers="${CRUCIBLE_TEST_WORKERS:-3}"
parallel=()
if [ "$workers" != 0 ]; then
  parallel=(-n "$workers" --dist load --maxschedchunk 1)
fi
set +e
python -m pytest "${parallel[@]}" "$@"
status=$?
set -e
# pytest exits 5 when it collected no tests: that is a failure of the suite, said plainly.
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests" >&2
  exit 1
fi
exit "$status"
