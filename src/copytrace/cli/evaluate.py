"""``copytrace eval``: the robustness evaluation against MD5, raw_text, TLSH and MinHash-LSH, on a sparse
bank and a dense one (many versions of a sample of the banked documents), with a progress bar on stderr."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError
from .common import Exit, note

if TYPE_CHECKING:
    from rich.progress import TaskID

    from ..evaluation.report import MethodResult

EPILOG = """example:
  copytrace eval ../shared/data/corpora/state_union ../shared/data/corpora/inaugural --out eval/
  copytrace eval posts.jsonl --per-row 100 --methods copytrace,md5
  copytrace eval posts.jsonl --dense-versions 0      # the sparse bank only

Every query runs against a sparse bank (each document once) and a dense bank (--dense-sample of the
banked documents as --dense-versions versions each, as teams bank every repost they remove).
Writes OUT/report.md (the table, what each method is, where copytrace loses, how the dense bank compares,
negatives set aside), OUT/recall_by_excerpt_length.png, OUT/recall_by_edit_rate.png and OUT/results.json,
and prints the table.  Needs the peers: pip install 'copytrace[eval]'.
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
    p.add_argument("--methods", help="comma-separated (default: all)")
    p.add_argument(
        "--slow-budget",
        type=float,
        default=90.0,
        metavar="SECONDS",
        help="query time for slow methods such as raw_text, on each bank (%(default)g)",
    )
    p.add_argument(
        "--dense-versions",
        type=int,
        default=15,
        metavar="N",
        help="versions of each sampled document in the dense bank (15; 0 or 1: no dense bank)",
    )
    p.add_argument(
        "--dense-sample",
        type=int,
        metavar="N",
        help="banked documents given versions in the dense bank (default: half; 0: no dense bank)",
    )
    p.set_defaults(run=run_eval, kernels=True)


@contextmanager
def _progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar on stderr, one line per method and bank; nothing when stderr is not a terminal."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def update(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total)
            bar.update(tasks[label], completed=done, total=total)

        yield update


def run_eval(args: argparse.Namespace) -> int:
    from ..evaluation.methods import ALL_METHODS
    from ..evaluation.report import method_names, run, score, table, write_report
    from ..evaluation.suite import build_suite, load_corpus

    known = {m.name: m for m in ALL_METHODS}
    methods = ",".join(known) if args.methods is None else args.methods
    wanted = [m.strip() for m in methods.split(",") if m.strip()]
    unknown = [m for m in wanted if m not in known]
    if unknown:
        raise InputError(f"unknown method(s) {', '.join(unknown)}: choose from {', '.join(known)}")
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise InputError("copytrace eval draws plots with matplotlib: pip install 'copytrace[eval]'") from exc
    if args.per_row < 1:
        raise InputError(f"--per-row {args.per_row}: must be 1 or more")
    if args.dense_versions < 0:
        raise InputError(f"--dense-versions {args.dense_versions}: must be 0 or more")
    if args.dense_sample is not None and args.dense_sample < 0:
        raise InputError(f"--dense-sample {args.dense_sample}: must be 0 or more")
    if args.slow_budget < 0:
        raise InputError(f"--slow-budget {args.slow_budget:g}: must be 0 or more")
    docs = load_corpus(args.corpus)
    suite = build_suite(
        docs,
        seed=args.seed,
        per_row=args.per_row,
        bank_size=args.bank_size,
        dense_versions=args.dense_versions,
        dense_sample=args.dense_sample,
    )
    dense = suite.dense
    note(
        f"{len(suite.items)} documents banked, {len(suite.queries)} queries"
        + (
            f"; dense bank: {len(dense.sampled)} of them as {dense.versions} versions each, "
            f"{len(dense.items)} items"
            if dense
            else ""
        )
    )
    results: list[MethodResult] = []
    with _progress_bar() as progress:
        for bank in suite.banks:
            methods = [known[name]() for name in wanted]
            results += run(suite, methods, bank=bank, slow_budget_s=args.slow_budget, progress=progress)
    scores = score(suite, results)
    command = shlex.join(
        ["copytrace", "eval", *args.corpus, "--out", args.out]
        + (["--seed", str(args.seed)] if args.seed != 1 else [])
        + (["--per-row", str(args.per_row)] if args.per_row != 40 else [])
        + (["--bank-size", str(args.bank_size)] if args.bank_size else [])
        + (["--methods", args.methods] if wanted != [m.name for m in ALL_METHODS] else [])
        + (["--slow-budget", f"{args.slow_budget:g}"] if args.slow_budget != 90 else [])
        + (["--dense-versions", str(args.dense_versions)] if args.dense_versions != 15 else [])
        + (["--dense-sample", str(args.dense_sample)] if args.dense_sample is not None else [])
    )
    path = write_report(suite, results, scores, Path(args.out), command, args.slow_budget)
    print(table(scores, method_names(results)))
    for r in results:
        if r.unavailable and r.bank == "sparse":
            note(f"{r.name} not run: {r.unavailable}")
    note(f"report written to {path}")
    return Exit.OK
