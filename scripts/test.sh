#!/usr/bin/env bash
# Set up copytrace with its test tools in .venv and run every check: ruff, mypy --strict, pytest.
# The store and service tests run on SQLite and on a real PostgreSQL server that the tests start.
# pytest runs in parallel, a worker process per core and one more (pytest-xdist), each with its own
# PostgreSQL server, temporary folders and Ray; arguments go to pytest:
#   bash scripts/test.sh                      every test, the slow ones too (as CI runs it)
#   bash scripts/test.sh -m "not slow"        the fast set: leaves out tests that start Ray or kill processes
#   .venv/bin/pytest -n auto -m "not slow"    the fast set again, once .venv is set up
#   bash scripts/test.sh -n 0 tests/test_x.py  one file, in one process
set -euo pipefail
cd "$(dirname "$0")/.."
# apt's summary and one in ten of its per-package lines: progress every few seconds without a flood
apt_progress() {
  awk '/^  / { next } /^(Get:|Selecting|Preparing|Unpacking|Setting up)/ { if (n++ % 10) next } { print; fflush() }'
}
# Runs a command and says on stderr every 10 s that it still runs (apt, pip, mypy and numba print nothing
# for minutes at first); on stderr, so that the filters of their output let it through
ticking() {
  local what=$1 status=0 ticker
  shift
  (start=$SECONDS; while sleep 10 && kill -0 $$ 2> /dev/null; do echo "   ... $what: $((SECONDS - start)) s" >&2; done) &
  ticker=$!
  "$@" || status=$?
  kill "$ticker" 2> /dev/null || true
  wait "$ticker" 2> /dev/null || true
  return "$status"
}
# Debian packages the tests drive for real: PostgreSQL (store and service tests start their own server)
# and Chromium (the review page's browser test, through Playwright, with no browser download).
missing=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    echo "== installing Debian packages for the tests: ${missing[*]} (a few minutes)"
    apt-get update
    DEBIAN_FRONTEND=noninteractive ticking "apt-get install" apt-get install -y -q -o Dpkg::Use-Pty=0 "${missing[@]}" \
      | apt_progress
  else
    echo "not installed: ${missing[*]} (Debian packages); the tests that need them are skipped (fail under CI)" >&2
  fi
fi
# the install is editable: the code is read from src/, and only a change of pyproject.toml (dependencies,
# entry points) needs pip again (which takes 10 s even when everything is installed)
installed=.venv/copytrace-installed-from.toml
if [ -f "$installed" ] && cmp -s pyproject.toml "$installed"; then
  echo "== copytrace and its test tools are installed in .venv (pyproject.toml unchanged since)"
else
  echo "== installing copytrace and its test tools in .venv (the first time: a few minutes, Ray is large)"
  python3 -m venv .venv
  PYTHONUNBUFFERED=1 ticking "pip install" .venv/bin/python -m pip install --disable-pip-version-check \
    -e ".[test,build-table]" | { grep -v "^Requirement already satisfied" || true; }
  cp pyproject.toml "$installed"
fi
export PATH="$PWD/.venv/bin:$PATH"
# The suite starts hundreds of Python processes (commands, servers, Ray's workers), and pytest rewrites the
# asserts of every test module in each of its workers: with $PYTHONDONTWRITEBYTECODE set (as in many
# containers) each of them compiles its modules from source again, on every run
unset PYTHONDONTWRITEBYTECODE
# numba compiles copytrace's kernels on first use: once here, beside HMA's environment, ruff and mypy, instead
# of in every pytest worker at once (tests/warm_kernels.py)
echo "== compiling copytrace's kernels in the background (the first time: a minute or two)"
python tests/warm_kernels.py &
warming=$!
echo "== HMA's own environment in .venv-hma for tests/test_hma.py (Python 3.13; the first time: a few minutes)"
ticking "HMA's environment" .venv/bin/python tests/hma/make_venv.py || [ -z "${CI:-}" ] || exit 1
# HMA's Python caches its own compiled kernels: compiled here beside mypy, not by HMA's server in the test
hma_python=${COPYTRACE_HMA_VENV:-.venv-hma}/bin/python
hma_warming=
if [ -x "$hma_python" ]; then
  echo "== compiling the kernels HMA's server runs, in its environment, in the background"
  "$hma_python" tests/warm_kernels.py --signals &
  hma_warming=$!
fi
echo "== ruff"
ruff check src tests benchmarks tools
ruff format --check src tests benchmarks tools
echo "== mypy --strict"
ticking "mypy" mypy
ticking "compiling kernels" wait "$warming" || echo "== compiling the kernels failed (above); the tests compile them instead"
if [ -n "$hma_warming" ]; then
  ticking "compiling HMA's kernels" wait "$hma_warming" \
    || echo "== compiling HMA's kernels failed (above); its server compiles them in tests/test_hma.py instead"
fi
# One worker more than cores: the tests of Ray, killed jobs and servers spend much of their time waiting
# (for a Ray or a server to start, for a process to exit), and the extra worker's tests use the core meanwhile
workers=$(($(nproc) + 1))
echo "== pytest, in parallel ($workers workers)"
pytest -n "$workers" "$@"
