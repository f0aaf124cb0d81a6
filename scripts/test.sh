#!/usr/bin/env bash
# Set up copytrace with its test tools in .venv and run every check: ruff, mypy --strict, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test,build-table]"
export PATH="$PWD/.venv/bin:$PATH"
ruff check src tests benchmarks tools
ruff format --check src tests benchmarks tools
mypy
pytest "$@"
