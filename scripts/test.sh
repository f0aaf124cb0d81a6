#!/usr/bin/env bash
# Set up copytrace with its test tools in .venv and run every check: ruff, mypy --strict, pytest.
# The store and service tests run on SQLite and on a real PostgreSQL server that the tests start.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian packages the tests drive for real: PostgreSQL (store and service tests start their own server)
# and Chromium (the review page's browser test, through Playwright, with no browser download).
missing=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    echo "installing Debian packages for the tests: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" > /dev/null
  else
    echo "not installed: ${missing[*]} (Debian packages); the tests that need them are skipped (fail under CI)" >&2
  fi
fi
python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test,build-table]"
export PATH="$PWD/.venv/bin:$PATH"
echo "== HMA's own environment in .venv-hma for tests/test_hma.py (Python 3.13; the first time: a few minutes)"
.venv/bin/python tests/hma/make_venv.py || [ -z "${CI:-}" ] || exit 1
ruff check src tests benchmarks tools
ruff format --check src tests benchmarks tools
mypy
pytest "$@"
