"""Run every method on the suite's queries, score them, and write ``report.md``, plots and ``results.json``.

Recall of a perturbation row: the share of its queries whose source item the method reports.  False
positives: negatives (and boilerplate alone) for which the method reports any item.  Slow methods run on a
time budget, taking the cheapest queries first (by the method's own cost estimate) and the rows in turn;
each cell then shows how many queries it rests on.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .methods import Method, UnavailableError
from .perturb import SUITE
from .suite import Query, Suite

NEGATIVE_ROWS = ("negative", "negative+boilerplate", "boilerplate-alone")


@dataclass
class MethodResult:
    name: str
    description: str
    unavailable: str | None = None
    build_s: float = 0.0
    query_s: float = 0.0
    answered: dict[str, set[str]] = field(default_factory=dict)  # query id -> items reported

    @property
    def qps(self) -> float:
        return len(self.answered) / self.query_s if self.query_s else 0.0


def _round_robin(queries: Sequence[Query]) -> list[Query]:
    rows: dict[str, list[Query]] = defaultdict(list)
    for q in queries:
        rows[q.row].append(q)
    out: list[Query] = []
    for i in range(max(len(r) for r in rows.values())):
        out.extend(r[i] for r in rows.values() if i < len(r))
    return out


def run(
    suite: Suite,
    methods: Sequence[Method],
    *,
    slow_budget_s: float = 180.0,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[MethodResult]:
    results = []
    for method in methods:
        res = MethodResult(method.name, method.description)
        results.append(res)
        t0 = time.perf_counter()
        try:
            method.build(suite.items)
        except UnavailableError as exc:
            res.unavailable = str(exc)
            continue
        res.build_s = time.perf_counter() - t0
        if method.slow:  # cheapest first, rows interleaved, so every row is sampled within the budget
            rr = _round_robin(suite.queries)
            rank = {q.id: n for n, q in enumerate(rr)}
            order = sorted(rr, key=lambda q: (method.cost(q.text), rank[q.id]))
        else:
            order = list(suite.queries)
        for n, q in enumerate(order, start=1):
            t = time.perf_counter()
            res.answered[q.id] = method.query(q.text)
            res.query_s += time.perf_counter() - t
            if progress:
                progress(method.name, n, len(order))
            if method.slow and res.query_s > slow_budget_s:
                break
    return results


def score(suite: Suite, results: Sequence[MethodResult]) -> dict[str, Any]:
    """{"rows": {row: {method: {"rate", "n"}}}, "methods": {...}}; rate is recall, or for negative rows the
    share of queries with any match."""
    rows: dict[str, dict[str, dict[str, float]]] = {}
    by_row: dict[str, list[Query]] = defaultdict(list)
    for q in suite.queries:
        by_row[q.row].append(q)
    for row, queries in by_row.items():
        rows[row] = {}
        for res in results:
            done = [q for q in queries if q.id in res.answered]
            if res.unavailable or not done:
                continue
            if q_truth_positive(row):
                hits = sum(q.truth in res.answered[q.id] for q in done)
            else:
                hits = sum(bool(res.answered[q.id]) for q in done)
            rows[row][res.name] = {"rate": hits / len(done), "n": len(done), "of": len(queries)}
    methods = {
        r.name: {
            "description": r.description,
            "unavailable": r.unavailable,
            "build_s": round(r.build_s, 3),
            "queries": len(r.answered),
            "queries_per_s": round(r.qps, 4),
        }
        for r in results
    }
    negatives = [q for q in suite.queries if q.row in NEGATIVE_ROWS]
    for r in results:
        done = [q for q in negatives if q.id in r.answered]
        methods[r.name]["false_positive_rate"] = (
            sum(bool(r.answered[q.id]) for q in done) / len(done) if done else None
        )
    return {"rows": rows, "methods": methods}


def q_truth_positive(row: str) -> bool:
    return row not in NEGATIVE_ROWS


def _cell(cell: dict[str, float] | None) -> str:
    if cell is None:
        return "–"
    text = f"{cell['rate']:.3f}"
    return text if cell["n"] == cell["of"] else f"{text} (n={cell['n']})"


def table(scores: dict[str, Any], names: Sequence[str]) -> str:
    lines = [
        "| query | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for row, cells in scores["rows"].items():
        label = row if q_truth_positive(row) else f"{row} (any match)"
        lines.append(f"| {label} | " + " | ".join(_cell(cells.get(n)) for n in names) + " |")
    m = scores["methods"]
    fpr = [m[n]["false_positive_rate"] for n in names]
    lines.append(
        "| **false-positive rate** | " + " | ".join("–" if f is None else f"{f:.4f}" for f in fpr) + " |"
    )
    lines.append("| **queries/s** | " + " | ".join(_rate(m[n]["queries_per_s"]) for n in names) + " |")
    return "\n".join(lines)


def _rate(qps: float) -> str:
    return f"{qps:,.0f}" if qps >= 10 else f"{qps:.2g}"


def losses(scores: dict[str, Any], ours: str = "copytrace") -> list[str]:
    """Every row where a peer beats copytrace (higher recall, or fewer matches on negatives)."""
    out = []
    for row, cells in scores["rows"].items():
        mine = cells.get(ours)
        if mine is None:
            continue
        for name, cell in cells.items():
            if name == ours:
                continue
            better = cell["rate"] > mine["rate"] if q_truth_positive(row) else cell["rate"] < mine["rate"]
            if better:
                what = "recall" if q_truth_positive(row) else "share of queries matched"
                out.append(
                    f"{row}: {name} {what} {cell['rate']:.3f} (n={cell['n']}) against copytrace's "
                    f"{mine['rate']:.3f}"
                )
    return out


def plots(scores: dict[str, Any], names: Sequence[str], out: Path) -> list[Path]:
    """Recall against excerpt length and against word-edit rate, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = scores["rows"]
    made = []
    series = {
        "recall_by_excerpt_length.png": (
            "words of the banked text inside unrelated text",
            [(int(r.split("-")[1]), r) for r in SUITE if r.startswith("excerpt-")],
        ),
        "recall_by_edit_rate.png": (
            "share of words deleted, replaced or inserted (%)",
            [(0, "exact")] + [(int(r.split("-")[1][:-1]), r) for r in SUITE if r.startswith("words-")],
        ),
    }
    for filename, (xlabel, points) in series.items():
        fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
        for name in names:
            xs = [x for x, r in points if name in rows.get(r, {})]
            ys = [rows[r][name]["rate"] for x, r in points if name in rows.get(r, {})]
            if xs:
                ax.plot(xs, ys, marker="o", label=name, linewidth=2.5 if name == "copytrace" else 1.2)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("recall")
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out / filename
        fig.savefig(path)
        plt.close(fig)
        made.append(path)
    return made


def write_report(
    suite: Suite,
    results: Sequence[MethodResult],
    scores: dict[str, Any],
    out: Path,
    command: str,
    slow_budget_s: float,
) -> Path:
    names = [r.name for r in results if not r.unavailable]
    out.mkdir(parents=True, exist_ok=True)
    images = plots(scores, names, out)
    lost = losses(scores)
    n_neg = sum(1 for q in suite.queries if q.row == "negative")
    lines = [
        "# copytrace robustness evaluation",
        "",
        f"Produced by `{command}` (seed {suite.seed}).",
        "",
        f"{len(suite.items)} banked documents; {len(suite.queries)} queries: "
        f"{sum(1 for q in suite.queries if q.truth)} made from banked documents by the perturbation suite "
        f"(`copytrace.evaluation.perturb`), {n_neg} unrelated documents as they are and again with a header "
        "and footer, and the boilerplate lines alone. Recall: the share of a row's queries whose source "
        "document the method reports. On negative rows: the share of queries with any match.",
        "",
        table(scores, names),
        "",
        "## Methods",
        "",
    ]
    for r in results:
        if r.unavailable:
            lines.append(f"- **{r.name}**: not run — {r.unavailable}")
        else:
            slow = (
                f" Run on a time budget of {slow_budget_s:.0f} s, round-robin over rows (n per cell)."
                if len(r.answered) < len(suite.queries)
                else ""
            )
            lines.append(
                f"- **{r.name}**: {r.description}. Built in {r.build_s:.1f} s; "
                f"{len(r.answered)} queries at {r.qps:,.1f}/s.{slow}"
            )
    lines += ["", "## Where copytrace loses", ""]
    lines += [f"- {x}" for x in lost] or ["- Nowhere in this run."]
    lines += ["", "## Negatives set aside", ""]
    if suite.set_aside:
        kept = sum(1 for q in suite.queries if q.row == "negative")
        passages = len({neg for neg, _ in suite.set_aside})
        lines.append(f"{passages} of {kept + passages} negative passages were set aside.")
        lines.append(
            "These unbanked documents truly share a passage of 10 or more words with a banked one (checked "
            "on lower-cased words before any method ran), so a match on them is a copy, not a false positive:"
        )
        lines += [f"- {neg} shares text with {item}" for neg, item in suite.set_aside[:200]]
        if len(suite.set_aside) > 200:
            lines.append(f"- … and {len(suite.set_aside) - 200} more (results.json lists them all)")
    else:
        lines.append("None.")
    lines += ["", "## Plots", ""] + [f"![{p.stem}]({p.name})" for p in images]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    scores = {**scores, "set_aside": suite.set_aside, "seed": suite.seed, "command": command}
    (out / "results.json").write_text(json.dumps(scores, indent=1) + "\n", encoding="utf-8")
    return path
