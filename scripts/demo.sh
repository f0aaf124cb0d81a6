#!/usr/bin/env bash
# Set up copytrace in .venv and run the main job on the embedded default (an SQLite file):
# bank the canonical article, match its republished copy, show the matched spans.
# With --serve it then starts the HTTP service and review page on the same store (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${COPYTRACE_DATA:-../shared/data}
# Runs a command and says every 10 s that it still runs (pip and numba's first compile print nothing for minutes)
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
echo "== installing copytrace in .venv (the first time: about a minute)"
python3 -m venv .venv
PYTHONUNBUFFERED=1 ticking "pip install" .venv/bin/python -m pip install --disable-pip-version-check -e . \
  | { grep -v "^Requirement already satisfied" || true; }
export PATH="$PWD/.venv/bin:$PATH"
export COPYTRACE_DB=${COPYTRACE_DB:-$PWD/demo.db}
echo "== a new store: $COPYTRACE_DB (set COPYTRACE_DB for another)"
rm -f "$COPYTRACE_DB" "$COPYTRACE_DB-wal" "$COPYTRACE_DB-shm"

echo "== bank the original article (000: title and paragraphs)"
echo "   (the first run after an install compiles copytrace's loops and caches them: a minute or so)"
ticking "compiling and banking" copytrace bank add news "$DATA/canonical/000_ea7438489bd31fbe.txt"
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
set -e

if [ "${1:-}" = "--serve" ]; then
  echo
  echo "== the service: an admin key (shown once), then the API and review page on http://127.0.0.1:8080/"
  KEY=$(copytrace keys create "demo-$(date +%s)" --role admin)
  echo "API key: $KEY"
  copytrace serve --port "${PORT:-8080}" &
  SERVER=$!
  trap 'kill $SERVER 2>/dev/null' EXIT
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:${PORT:-8080}/health" > /dev/null && break; sleep 0.2; done
  echo "== POST /v1/match with the republished copy:"
  python3 -c 'import json,sys; print(json.dumps({"text": open(sys.argv[1]).read()}))' \
      "$DATA/canonical/001_5e32e1b4a13a1b7e.txt" \
    | curl -s -H "Authorization: Bearer $KEY" "http://127.0.0.1:${PORT:-8080}/v1/match" -d @-
  echo
  echo "== open http://127.0.0.1:${PORT:-8080}/ and enter the key above; Ctrl-C stops the service"
  wait $SERVER
fi
