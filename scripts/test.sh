#!/usr/bin/env bash
# Set up copytrace with its test tools in .venv and run every check: ruff, mypy --strict, pytest.
# The store tests run on SQLite and on a real PostgreSQL server that the tests start themselves from
# Debian's postgresql package, installed here when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    echo "installing PostgreSQL (Debian's postgresql) for the store tests"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql > /dev/null
  else
    echo "PostgreSQL server binaries not found: install Debian's postgresql, or the PostgreSQL tests are skipped" >&2
  fi
fi
python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test,build-table]"
export PATH="$PWD/.venv/bin:$PATH"
ruff check src tests benchmarks tools
ruff format --check src tests benchmarks tools
mypy
pytest "$@"
