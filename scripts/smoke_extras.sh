#!/usr/bin/env bash
# Each install line of the README's "Install" section, run as written in a fresh virtualenv of its own, then
# that extra's example from the README. The test suite installs every extra at once, so it cannot see a
# command that needs a package only another extra brings (cluster once needed matplotlib, from "eval").
# An install line with no example here fails the script: add one. pip's wheel cache makes reruns quick.
#   bash scripts/smoke_extras.sh            # every extra the README lists
#   bash scripts/smoke_extras.sh ray eval   # some of them ("base" is the plain install)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DATA=$(cd "${COPYTRACE_DATA:-$ROOT/../shared/data}" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/copytrace-smoke-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ORIGINAL=$DATA/canonical/000_ea7438489bd31fbe.txt
COPY=$DATA/canonical/001_5e32e1b4a13a1b7e.txt

say() { echo "== smoke [$EXTRA] $*"; }
fail() {
  echo "smoke_extras: FAILED [$EXTRA]: $*" >&2
  exit 1
}
# run CMD...: show it, run it in the extra's folder, fail loudly (with its output) unless it exits 0
run() {
  say "\$ $*"
  if ! (cd "$HERE" && "$@") > "$HERE/out.log" 2>&1; then
    sed 's/^/    /' "$HERE/out.log" | tail -40 >&2
    fail "'$*' failed"
  fi
  sed 's/^/    /' "$HERE/out.log" | tail -5 | cut -c1-200
}
# expect FILE PATTERN: FILE holds PATTERN (an extended regular expression)
expect() {
  grep -Eq -- "$2" "$HERE/$1" || fail "$1 does not show /$2/: $(head -c 400 "$HERE/$1")"
}

# -------------------------------------------------------------------------------- the README's examples
example_base() {  # the seed pair: bank the article, match its republished copy
  run copytrace bank add news "$ORIGINAL"
  run copytrace match --format text "$COPY"
  expect out.log "news/000_ea7438489bd31fbe +score 0\.9"
  say "scan without its extra: one line naming the extra, exit 2"
  if (cd "$HERE" && copytrace scan --bank news "$DATA/canonical" --out scan-base) > "$HERE/out.log" 2>&1; then
    fail "scan ran without the ray extra"
  fi
  expect out.log "pip install 'copytrace\[ray\]'"
}

example_postgres() {  # --db postgresql+psycopg://user@host/db, on a server started here
  local bindir
  bindir=$(find /usr/lib/postgresql -maxdepth 3 -name initdb -path '*/bin/*' 2> /dev/null | sort -r | head -1)
  [ -n "$bindir" ] || fail "no PostgreSQL server binaries (apt-get install postgresql; scripts/test.sh does)"
  say "a PostgreSQL server from tests/postgres.py, then the README's commands with --db on it"
  run python - "$ROOT/tests" "$(dirname "$bindir")" "$ORIGINAL" "$COPY" << 'EOF'
import subprocess, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from postgres import create_database, running_server

with running_server(Path(sys.argv[2])) as server:
    url = create_database(server.url, "smoke")
    for args in (["bank", "add", "news", sys.argv[3]], ["match", sys.argv[4]]):
        print("$ copytrace", *args, "--db", url, flush=True)
        subprocess.run(["copytrace", *args, "--db", url], check=True)
EOF
  expect out.log '"item_id": "000_ea7438489bd31fbe"'
}

example_threatexchange() {  # README "threatexchange and HMA"
  cp "$ORIGINAL" "$HERE/article.txt"
  run threatexchange config extensions add copytrace.threatexchange
  run threatexchange hash text article.txt
  expect out.log "copytrace ctw1:n1:k5:w4:public:"
}

example_ray() {  # README "Corpora on Ray: scan and cluster", on a private local Ray
  mkdir -p "$HERE/crawl" "$HERE/posts"
  cp "$COPY" "$DATA"/corpora/inaugural/19{33,61,81}-*.txt "$HERE/crawl/"
  cp "$ORIGINAL" "$COPY" "$DATA"/corpora/inaugural/19{33,61,81}-*.txt "$HERE/posts/"
  run copytrace bank add manifestos "$ORIGINAL"
  run copytrace scan --bank manifestos crawl/ --out scan-1
  expect scan-1/summary.json '"matches": 1[,}]'
  run copytrace cluster posts/ --out families-1
  expect families-1/summary.json '"families": 1[,}]'
  expect families-1/report.html '<svg class="chart"'
  expect families-1/report.html '<mark'
}

example_eval() {  # README "Robustness against its peers", on one corpus and few queries
  run copytrace eval "$DATA/corpora/inaugural" --out eval-1 --per-row 3 --dense-versions 0 --slow-budget 5
  expect eval-1/report.md "md5"
  [ -s "$HERE/eval-1/recall_by_edit_rate.png" ] || fail "eval wrote no plot"
}

example_bench() {  # README's phrase benchmark, small: copytrace beside the matchers the extra brings
  run python "$ROOT/benchmarks/bench_phrases.py" --data "$DATA" --phrases 50 --posts 5 --big 200 \
    --profanity-posts 5
  expect out.log "Hyperscan"
}

# ------------------------------------------------------------------------------------------------ driver
# The README's install lines, e.g. 'pip install -e ".[ray]"  # ...': the extra is what is in the brackets.
mapfile -t LINES < <(sed -n '/^## Install/,/^## /p' README.md | grep -E '^pip install ')
[ ${#LINES[@]} -gt 0 ] || {
  EXTRA=readme
  fail "no 'pip install' line in README.md's Install section"
}
WANTED=" $* "
ran=0
for line in "${LINES[@]}"; do
  command=${line%%#*}
  command=${command//\"/}
  read -ra words <<< "$command"
  EXTRA=base
  [[ $command =~ \[([a-z_-]+)\] ]] && EXTRA=${BASH_REMATCH[1]}
  if [ $# -gt 0 ] && [[ $WANTED != *" $EXTRA "* ]]; then
    continue
  fi
  declare -F "example_$EXTRA" > /dev/null || fail "README.md installs '$EXTRA' but this script has no example for it"
  HERE=$WORK/$EXTRA
  mkdir -p "$HERE/home"
  started=$SECONDS
  say "fresh virtualenv; README: \$ ${line%%  *}"
  python3 -m venv "$HERE/venv"
  # as the README says it, with this venv's pip; quietly, but with pip's own error if it fails
  if ! "$HERE/venv/bin/python" -m pip install -q --disable-pip-version-check "${words[@]:2}" > "$HERE/pip.log" 2>&1; then
    tail -30 "$HERE/pip.log" >&2
    fail "${command% } failed"
  fi
  (
    export PATH="$HERE/venv/bin:$PATH" HOME="$HERE/home" COPYTRACE_DB="$HERE/store.db"
    export COPYTRACE_CACHE="$HERE/cache" COPYTRACE_DATA="$DATA"
    unset COPYTRACE_KEY_FILE RAY_ADDRESS VIRTUAL_ENV
    "example_$EXTRA"
  )
  say "passed ($((SECONDS - started)) s)"
  ran=$((ran + 1))
done
[ $ran -gt 0 ] || {
  EXTRA=arguments
  fail "no README install line for: $*"
}
echo "== smoke: $ran install(s) from README.md, each with its example: all passed"
