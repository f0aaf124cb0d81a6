#!/usr/bin/env bash
# Set up copytrace in .venv and run the main job on the embedded default (an SQLite file):
# bank the canonical article, match its republished copy, show the matched spans.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${COPYTRACE_DATA:-../shared/data}
python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
export PATH="$PWD/.venv/bin:$PATH"
export COPYTRACE_DB=${COPYTRACE_DB:-$PWD/demo.db}
rm -f "$COPYTRACE_DB" "$COPYTRACE_DB-wal" "$COPYTRACE_DB-shm"

echo "== bank the original article (000: title and paragraphs)"
copytrace bank add news "$DATA/canonical/000_ea7438489bd31fbe.txt"
echo
echo "== match the republished copy (001: one line, licence footer); the passages that matched:"
copytrace match --format text "$DATA/canonical/001_5e32e1b4a13a1b7e.txt"
echo "== the same match as JSON, for scripts:"
copytrace match "$DATA/canonical/001_5e32e1b4a13a1b7e.txt"
echo
echo "== one quoted paragraph inside unrelated text:"
{ head -c 700 "$DATA/corpora/inaugural/1961-Kennedy.txt"; echo
  sed -n 4p "$DATA/canonical/000_ea7438489bd31fbe.txt"
  tail -c 500 "$DATA/corpora/inaugural/1961-Kennedy.txt"; } | copytrace match --format text -
echo "== the licence footer alone (exit status 1: no match):"
set +e
echo "All Content by Mehr News Agency is licensed under a Creative Commons Attribution 4.0 International License." \
  | copytrace match -
echo "exit status $?"
