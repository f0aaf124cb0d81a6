"""``copytrace eval``: the robustness evaluation against MD5, raw_text, TLSH and MinHash-LSH."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from ..errors import InputError
from ..evaluation.methods import ALL_METHODS
from ..evaluation.report import run, score, table, write_report
from ..evaluation.suite import build_suite, load_corpus
from .common import Exit, note

EPILOG = """example:
  copytrace eval ../shared/data/corpora/state_union ../shared/data/corpora/inaugural --out eval/
  copytrace eval posts.jsonl --per-row 100 --methods copytrace,md5

Writes OUT/report.md (the table, what each method is, where copytrace loses, negatives set aside),
OUT/recall_by_excerpt_length.png, OUT/recall_by_edit_rate.png and OUT/results.json, and prints the table.
Needs the peers: pip install 'copytrace[eval]'.
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "eval",
        help="measure recall and false positives against MD5, raw_text, TLSH, MinHash-LSH",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Bank a sample of CORPUS, derive queries with a seeded perturbation suite, run copytrace "
        "and its peers on them, and report recall per perturbation and false positives.",
    )
    p.add_argument("corpus", nargs="+", metavar="CORPUS", help="folder of .txt files, or JSONL of {id, text}")
    p.add_argument(
        "--out", metavar="DIR", default="eval-report", help="where to write (default: eval-report)"
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--per-row", type=int, default=40, metavar="N", help="queries per perturbation (40)")
    p.add_argument("--bank-size", type=int, metavar="N", help="documents banked (default: half)")
    p.add_argument(
        "--methods", default=",".join(m.name for m in ALL_METHODS), help="comma-separated (default: all)"
    )
    p.add_argument(
        "--slow-budget",
        type=float,
        default=180.0,
        metavar="SECONDS",
        help="query time for slow methods such as raw_text (180)",
    )
    p.set_defaults(run=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    wanted = [m.strip() for m in args.methods.split(",") if m.strip()]
    known = {m.name: m for m in ALL_METHODS}
    unknown = [m for m in wanted if m not in known]
    if unknown:
        raise InputError(f"unknown method(s) {', '.join(unknown)}: choose from {', '.join(known)}")
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise InputError("copytrace eval draws plots with matplotlib: pip install 'copytrace[eval]'") from exc
    docs = load_corpus(args.corpus)
    suite = build_suite(docs, seed=args.seed, per_row=args.per_row, bank_size=args.bank_size)
    note(f"{len(suite.items)} documents banked, {len(suite.queries)} queries")
    methods = [known[name]() for name in wanted]

    def progress(name: str, n: int, total: int) -> None:
        if sys.stderr.isatty() and n % 50 == 0:
            print(f"\r{name}: {n}/{total}", end="", file=sys.stderr, flush=True)

    results = run(suite, methods, slow_budget_s=args.slow_budget, progress=progress)
    scores = score(suite, results)
    command = shlex.join(
        ["copytrace", "eval", *args.corpus, "--out", args.out]
        + (["--seed", str(args.seed)] if args.seed != 1 else [])
        + (["--per-row", str(args.per_row)] if args.per_row != 40 else [])
        + (["--bank-size", str(args.bank_size)] if args.bank_size else [])
        + (["--methods", args.methods] if wanted != [m.name for m in ALL_METHODS] else [])
        + (["--slow-budget", f"{args.slow_budget:g}"] if args.slow_budget != 180 else [])
    )
    path = write_report(suite, results, scores, Path(args.out), command, args.slow_budget)
    print(table(scores, [r.name for r in results if not r.unavailable]))
    for r in results:
        if r.unavailable:
            note(f"{r.name} not run: {r.unavailable}")
    note(f"report written to {path}")
    return Exit.OK
