"""Run every method on the suite's queries, score them, and write ``report.md``, plots and ``results.json``.

Recall of a perturbation row: the share of its queries whose source item the method reports.  False
positives: negatives (and boilerplate alone) for which the method reports any item.  Slow methods run on a
time budget, taking the cheapest queries first (by the method's own cost estimate) and the rows in turn;
each cell then shows how many queries it rests on.

With a dense bank (``suite.Bank``), every method is built again on it and runs the same queries; a query
is found there when any version of its source document is reported.  The table then has a sparse and a
dense column per method, and ``dense_gaps`` lists the rows where copytrace does worse on the dense bank.
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
from .suite import Bank, Query, Suite

NEGATIVE_ROWS = ("negative", "negative+boilerplate", "boilerplate-alone")


@dataclass
class MethodResult:
    name: str
    description: str
    unavailable: str | None = None
    build_s: float = 0.0
    query_s: float = 0.0
    answered: dict[str, set[str]] = field(default_factory=dict)  # query id -> items reported
    bank: str = "sparse"

    @property
    def qps(self) -> float:
        return len(self.answered) / self.query_s if self.query_s else 0.0


def method_names(results: Sequence[MethodResult]) -> list[str]:
    """The methods that ran, in order, each once (a method runs once per bank)."""
    return list(dict.fromkeys(r.name for r in results if not r.unavailable))


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
    bank: Bank | None = None,
    slow_budget_s: float = 180.0,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[MethodResult]:
    """Build each method on ``bank`` (default: the sparse bank) and run the suite's queries on it.

    ``progress(label, done, total)`` is called before a method's build (done 0) and after each query; a
    slow method that spends its budget reports its last count as the total.
    """
    bank = bank or suite.sparse
    results = []
    for method in methods:
        res = MethodResult(method.name, method.description, bank=bank.name)
        results.append(res)
        label = f"{method.name} · {bank.name} bank"
        if progress:
            progress(label, 0, len(suite.queries))
        t0 = time.perf_counter()
        try:
            method.build(bank.items)
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
                progress(label, n, len(order))
            if method.slow and res.query_s > slow_budget_s:
                if progress:
                    progress(label, n, n)
                break
    return results


def score(suite: Suite, results: Sequence[MethodResult]) -> dict[str, Any]:
    """{"rows": {row: {method: {"rate", "n", "of"}}}, "methods": {...}} for the sparse bank, and the same
    under "dense" for the dense bank where results on it are given; rate is recall, or for negative rows the
    share of queries with any match.  A dense cell also has "versioned": the recall of the queries whose
    source is banked as many versions."""
    banks = {b.name: b for b in suite.banks}
    out = _score_bank(suite, banks["sparse"], [r for r in results if r.bank == "sparse"])
    dense = [r for r in results if r.bank == "dense"]
    if dense and suite.dense:
        out["dense"] = _score_bank(suite, suite.dense, dense)
        out["dense"].update(
            items=len(suite.dense.items), versions=suite.dense.versions, sampled=len(suite.dense.sampled)
        )
    return out


def _score_bank(suite: Suite, bank: Bank, results: Sequence[MethodResult]) -> dict[str, Any]:
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    by_row: dict[str, list[Query]] = defaultdict(list)
    for q in suite.queries:
        by_row[q.row].append(q)
    sampled = set(bank.sampled)
    for row, queries in by_row.items():
        rows[row] = {}
        for res in results:
            done = [q for q in queries if q.id in res.answered]
            if res.unavailable or not done:
                continue
            if q_truth_positive(row):
                found = [q.truth in bank.truth(res.answered[q.id]) for q in done]
            else:
                found = [bool(res.answered[q.id]) for q in done]
            cell: dict[str, Any] = {"rate": sum(found) / len(done), "n": len(done), "of": len(queries)}
            versioned = [f for q, f in zip(done, found, strict=True) if q.truth in sampled]
            if q_truth_positive(row) and versioned:
                cell["versioned"] = {"rate": sum(versioned) / len(versioned), "n": len(versioned)}
            rows[row][res.name] = cell
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
    """The Markdown table: a column per method, or with a dense bank, a sparse and a dense column each."""
    banks = [("sparse", scores)] + ([("dense", scores["dense"])] if "dense" in scores else [])
    cols = [(n, label, s) for n in names for label, s in banks if n in s["methods"]]
    heads = [n if len(banks) == 1 else f"{n} {label}" for n, label, _ in cols]
    lines = ["| query | " + " | ".join(heads) + " |", "|---|" + "---|" * len(cols)]
    for row in scores["rows"]:
        label = row if q_truth_positive(row) else f"{row} (any match)"
        cells = [_cell(s["rows"].get(row, {}).get(n)) for n, _, s in cols]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    fpr = [s["methods"][n]["false_positive_rate"] for n, _, s in cols]
    lines.append(
        "| **false-positive rate** | " + " | ".join("–" if f is None else f"{f:.4f}" for f in fpr) + " |"
    )
    qps = [_rate(s["methods"][n]["queries_per_s"]) for n, _, s in cols]
    lines.append("| **queries/s** | " + " | ".join(qps) + " |")
    return "\n".join(lines)


def _rate(qps: float) -> str:
    return f"{qps:,.0f}" if qps >= 10 else f"{qps:.2g}"


def losses(scores: dict[str, Any], ours: str = "copytrace") -> list[str]:
    """Every row where a peer beats copytrace (higher recall, or fewer matches on negatives), on each bank.
    copytrace's other configurations (``copytrace_text``) are not peers."""
    out = []
    banks = [("", scores)] + ([("dense bank, ", scores["dense"])] if "dense" in scores else [])
    for prefix, bank in banks:
        for row, cells in bank["rows"].items():
            mine = cells.get(ours)
            if mine is None:
                continue
            for name, cell in cells.items():
                if name.startswith(ours):
                    continue
                positive = q_truth_positive(row)
                better = cell["rate"] > mine["rate"] if positive else cell["rate"] < mine["rate"]
                if better:
                    what = "recall" if positive else "share of queries matched"
                    out.append(
                        f"{prefix}{row}: {name} {what} {cell['rate']:.3f} (n={cell['n']}) against "
                        f"copytrace's {mine['rate']:.3f}"
                    )
    return out


def dense_gaps(scores: dict[str, Any], name: str = "copytrace", tolerance: float = 0.02) -> list[str]:
    """Rows where ``name`` does worse on the dense bank than on the sparse one by more than ``tolerance``:
    lower recall, or more negatives matched."""
    if "dense" not in scores:
        return []
    out = []
    for row, cells in scores["rows"].items():
        sparse, dense = cells.get(name), scores["dense"]["rows"].get(row, {}).get(name)
        if sparse is None or dense is None:
            continue
        gap = sparse["rate"] - dense["rate"] if q_truth_positive(row) else dense["rate"] - sparse["rate"]
        if gap > tolerance:
            what = "recall" if q_truth_positive(row) else "share of queries matched"
            versioned = dense.get("versioned")
            among = (
                f"; {versioned['rate']:.3f} of the {versioned['n']} queries whose source has versions"
                if versioned
                else ""
            )
            out.append(
                f"{row}: {what} {dense['rate']:.3f} on the dense bank, {sparse['rate']:.3f} on the "
                f"sparse{among}"
            )
    return out


def plots(scores: dict[str, Any], names: Sequence[str], out: Path) -> list[Path]:
    """Recall against excerpt length and against word-edit rate, one line per method and bank (the dense
    bank dashed)."""
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
    dense = scores.get("dense", {}).get("rows", {})
    for filename, (xlabel, points) in series.items():
        fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
        for k, name in enumerate(names):
            color, width = f"C{k}", 2.5 if name == "copytrace" else 1.2
            for bank, style in ((rows, "-"), (dense, "--")):
                xs = [x for x, r in points if name in bank.get(r, {})]
                ys = [bank[r][name]["rate"] for x, r in points if name in bank.get(r, {})]
                label = name if not dense else f"{name}, {'sparse' if bank is rows else 'dense'} bank"
                if xs:
                    ax.plot(xs, ys, style, marker="o", color=color, label=label, linewidth=width)
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
    names = method_names(results)
    out.mkdir(parents=True, exist_ok=True)
    images = plots(scores, names, out)
    lost = losses(scores)
    n_neg = sum(1 for q in suite.queries if q.row == "negative")
    dense = suite.dense
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
    ]
    if dense:
        lines += [
            "",
            "Every query runs against two banks. The *sparse* bank holds each document once. The *dense* "
            f"bank holds {len(dense.sampled)} of them as {dense.versions} versions each, as teams bank every "
            'repost they remove (each version with its own first line, "Version i repost from channel '
            '@…", and its own last line; half of them with 2% of words edited; '
            "`copytrace.evaluation.versions`), and the others once: "
            f"{len(dense.items)} items. On the dense bank a query is found when any version of its source "
            "document is reported. Each cell rests on the same queries on both banks; results.json also "
            "gives, per dense cell, the recall of the queries whose source has versions (`versioned`).",
        ]
    lines += ["", table(scores, names), "", "## Methods", ""]
    for r in results:
        where = f" On the {r.bank} bank:" if dense else ""
        if r.unavailable:
            lines.append(f"- **{r.name}**:{where} not run — {r.unavailable}")
        else:
            slow = (
                f" Run on a time budget of {slow_budget_s:.0f} s, round-robin over rows (n per cell)."
                if len(r.answered) < len(suite.queries)
                else ""
            )
            lines.append(
                f"- **{r.name}**:{where} {r.description}. Built in {r.build_s:.1f} s; "
                f"{len(r.answered)} queries at {r.qps:,.1f}/s.{slow}"
            )
    lines += ["", "## Where copytrace loses", ""]
    lines += [f"- {x}" for x in lost] or ["- Nowhere in this run."]
    if dense:
        gaps = dense_gaps(scores)
        lines += ["", "## Dense bank against sparse bank", ""]
        lines.append(
            "Rows where copytrace does worse on the dense bank than on the sparse one by more than 0.02 "
            "(lower recall, or more negatives matched):"
        )
        lines += [""] + ([f"- {x}" for x in gaps] or ["- None in this run."])
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
    if dense:
        scores["dense_gaps"] = dense_gaps(scores)
    (out / "results.json").write_text(json.dumps(scores, indent=1) + "\n", encoding="utf-8")
    return path
