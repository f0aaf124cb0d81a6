"""Start-up of the ``copytrace`` command: how long ``--version``, ``--help`` and a warm ``match`` take,
against the budgets of issue #13, and the same commands on a baseline revision.

Each command runs in a fresh process (``python -m copytrace.cli.main ...``) ``--runs`` times; the table gives
the median and the best wall time of those runs, the budget, whether the median meets it, the median of the
child's own CPU seconds (``_procs.run``: what to compare on a busy machine), and the medians of
the baseline revision with the ratio new / baseline. ``match`` queries the canonical republished article
(``canonical/001``) against a bank of ``--items`` items: the canonical original (``000``) and generated texts
(words drawn from the shared corpora, seeded), added once per revision with ``copytrace bank add --jsonl``
into a store of its own; one untimed ``match`` first builds and caches the index snapshot, so the timed runs
are warm. ``match a quote`` queries one sentence of the original inside a speech (``QUOTE``): found by the
quote pass, which loads the language's background model (cached by the untimed run before, where the
revision caches it). The baseline (``--baseline-rev``, default e8ce206) is the ``src`` tree of that
revision, extracted with ``git archive`` and run with ``PYTHONPATH`` pointing at it (skipped with a note
without git)::

    python benchmarks/bench_startup.py                     # 10k items, 7 runs each, baseline e8ce206
    python benchmarks/bench_startup.py --runs 3 --items 2000 --baseline-rev HEAD
    python benchmarks/bench_startup.py --no-baseline

Measure on a quiet machine: every number is one process's wall time, so other work on the cores shows.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _procs import CORPORA, ORIGINAL, QUERY, ROOT, Timing, corpus_words, extract, run

BUDGETS = {"--version": 0.2, "--help": 0.2, "match": 0.8, "match a quote": 0.8}
"""Seconds, from issue #13."""
QUOTE = (
    "As someone said once: We don't sleep for one night unless we think of eliminating our enemies, "
    "that is all."
)
"""A sentence of the canonical original, quoted inside other text: found by the quote pass, which loads the
background model of the language (``copytrace.text.background``)."""


def quote_query(into: Path) -> Path:
    """A query file: the first and last 1,500 characters of a State of the Union address around ``QUOTE``."""
    speech = (CORPORA[0] / "1990-Bush.txt").read_text(encoding="utf-8", errors="replace")
    path = into / "quote.txt"
    path.write_text(f"{speech[:1500]}\n{QUOTE}\n{speech[-1500:]}", encoding="utf-8")
    return path


@dataclass(frozen=True)
class Revision:
    """A copytrace source tree to run: its name, its ``src`` folder and a scratch folder for its store."""

    name: str
    src: Path
    work: Path

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": str(self.src),
            "COPYTRACE_DB": str(self.work / "store.db"),
            "COPYTRACE_CACHE": str(self.work / "cache"),
            "COPYTRACE_SNAPSHOT_DIR": str(self.work / "snapshots"),
        }

    def check_source(self) -> None:
        """Exit unless ``import copytrace`` in this revision's environment loads its own ``src`` tree."""
        proc = subprocess.run(
            [sys.executable, "-c", "import copytrace; print(copytrace.__file__)"],
            env=self.env(),
            capture_output=True,
            text=True,
            check=True,
        )
        if not Path(proc.stdout.strip()).is_relative_to(self.src):
            sys.exit(f"{self.name}: copytrace is imported from {proc.stdout.strip()}, not from {self.src}")

    def run(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "copytrace.cli.main", *args],
            env=self.env(),
            input=stdin,
            capture_output=True,
            check=False,
        )


def generated_items(n: int, seed: int) -> list[dict[str, str]]:
    """``n`` bank items: the canonical original, then texts of 120-240 words drawn from the corpora's words
    (so with their frequencies), each its own text."""
    words = corpus_words()
    rng = random.Random(seed)
    items = [{"id": "canonical-000", "text": ORIGINAL.read_text(encoding="utf-8")}]
    for i in range(n - 1):
        items.append({"id": f"gen-{i:05d}", "text": " ".join(rng.choices(words, k=rng.randint(120, 240)))})
    return items


def build_bank(rev: Revision, records: bytes) -> float:
    """Add the items to ``rev``'s own store; the seconds it took."""
    start = time.perf_counter()
    proc = rev.run("bank", "add", "bench", "--jsonl", "-", stdin=records)
    if proc.returncode != 0:
        sys.exit(f"{rev.name}: bank add failed: {proc.stderr.decode(errors='replace')[-2000:]}")
    return time.perf_counter() - start


def timed(rev: Revision, args: list[str], runs: int, ok: set[int]) -> list[Timing]:
    """Wall and CPU seconds of ``runs`` runs of ``copytrace ARGS`` in fresh processes."""
    out = []
    for _ in range(runs):
        proc = run([sys.executable, "-m", "copytrace.cli.main", *args], rev.env())
        out.append(proc.timing)
        if proc.returncode not in ok:
            failure = proc.stderr.decode(errors="replace")[-2000:]
            sys.exit(f"{rev.name}: copytrace {' '.join(args)}: exit {proc.returncode}: {failure}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each command (7)")
    parser.add_argument("--items", type=int, default=10_000, help="items in the bank match searches (10000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--baseline-rev", default="e8ce206", help="git revision to compare with (e8ce206)")
    parser.add_argument("--no-baseline", action="store_true", help="time this checkout only")
    args = parser.parse_args()

    records = "".join(json.dumps(r) + "\n" for r in generated_items(args.items, args.seed)).encode()
    with tempfile.TemporaryDirectory(prefix="copytrace-startup-") as tmp:
        quote = quote_query(Path(tmp))
        commands: list[tuple[str, list[str], set[int]]] = [
            ("--version", ["--version"], {0}),
            ("--help", ["--help"], {0}),
            ("match", ["match", str(QUERY)], {0}),
            ("match a quote", ["match", str(quote)], {0, 1}),
        ]
        revisions = [Revision("new", ROOT / "src", Path(tmp) / "new")]
        if not args.no_baseline:
            (Path(tmp) / "base").mkdir()
            src = extract(args.baseline_rev, Path(tmp) / "base")
            if src is not None:
                revisions.append(Revision(args.baseline_rev, src, Path(tmp) / "base"))
        results: dict[str, dict[str, list[Timing]]] = {}
        for rev in revisions:
            rev.work.mkdir(exist_ok=True)
            rev.check_source()
            built = build_bank(rev, records)
            warm = rev.run("match", str(QUERY))  # builds and caches the index snapshot; compiles Numba code
            found = warm.stdout.decode().splitlines()
            if warm.returncode != 0 or not found or json.loads(found[0])["item_id"] != "canonical-000":
                failure = warm.stderr.decode(errors="replace")[-2000:]
                sys.exit(f"{rev.name}: the warm-up match did not find canonical-000: {failure}")
            quoted = rev.run("match", str(quote))  # the quote pass: caches the background model, if it can
            if b'"kind": "quote"' not in quoted.stdout:  # a revision before quotes: timed all the same
                print(f"note: {rev.name}: the warm-up match did not find the quote", file=sys.stderr)
            print(f"{rev.name}: bank of {args.items:,} items added in {built:.1f} s", flush=True)
            results[rev.name] = {name: timed(rev, argv, args.runs, ok) for name, argv, ok in commands}

    base = revisions[1].name if len(revisions) > 1 else None
    print(f"\n{args.runs} runs each, in fresh processes; match: one file, {args.items:,}-item bank, warm")
    print("a quote: one sentence of the banked original inside a speech (the quote pass and its model)")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print("wall seconds, and the median of each child's own CPU seconds (user + system): on a busy machine")
    print("compare those\n")
    header = "| command | median s | best s | budget s | met? | CPU s |"
    rule = "|---|---:|---:|---:|:---:|---:|"
    if base:
        header += f" {base} median s | {base} CPU s | new / {base} (CPU) |"
        rule += "---:|---:|---:|"
    print(header)
    print(rule)
    for name, argv, _ in commands:
        times = [t.wall for t in results["new"][name]]
        cpu = statistics.median(t.cpu for t in results["new"][name])
        median = statistics.median(times)
        shown = " ".join(argv).replace(str(QUERY), "canonical/001").replace(str(quote), "a quote")
        met = "yes" if median <= BUDGETS[name] else "no"
        row = f"| `copytrace {shown}` | {median:.3f} | {min(times):.3f} | {BUDGETS[name]:.1f} | {met} |"
        row += f" {cpu:.3f} |"
        if base:
            base_median = statistics.median(t.wall for t in results[base][name])
            base_cpu = statistics.median(t.cpu for t in results[base][name])
            row += (
                f" {base_median:.3f} | {base_cpu:.3f} | {median / base_median:.2f} ({cpu / base_cpu:.2f}) |"
            )
        print(row)


if __name__ == "__main__":
    main()
