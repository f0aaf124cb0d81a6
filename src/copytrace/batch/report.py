"""``report.html`` of a cluster job: the largest copy families, their shared passages, and a histogram.

One self-contained page (the review page's look, no script, the histogram drawn as inline SVG and also
written beside it as ``family-sizes.svg``): the job's numbers, a histogram of family sizes, then each of the
largest families with its members, its *earliest* member (the first in the corpus, which names the family)
and its *most complete* member (the longest text), the two side by side with the passages they share
highlighted, each text shown from just before its first shared passage, and every member's strongest link.

The page needs nothing beyond what ``cluster`` itself needs (the ``ray`` extra): the chart is SVG written
here, not a plotting library's image.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from . import cluster_arrow as arrow

if TYPE_CHECKING:
    import pyarrow as pa

SHOWN = 20  # families on the page
MAX_CHARS = 6000  # of each text shown
LEAD = 240  # characters shown before a text's first shared passage
MAX_MEMBERS = 50  # rows of a family's member table
NO_FAMILY = '<p class="empty">No two documents are copies of each other.</p>'


class Texts(Protocol):
    def text(self, number: int) -> str: ...


_STYLE = """
  body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #1d232a; background: #f4f5f7; }
  header {
    background: #1d232a;
    color: #fff;
    padding: .7rem 1.2rem;
    display: flex;
    gap: 1rem;
    align-items: center;
  }
  header h1 { font-size: 1.1rem; margin: 0; }
  header .hint { opacity: .75; font-size: .85rem; }
  main { padding: 1rem 1.2rem; max-width: 1400px; }
  section {
    background: #fff;
    border: 1px solid #d9dde3;
    border-radius: 6px;
    padding: .8rem 1rem;
    margin-bottom: 1rem;
  }
  .numbers { display: flex; gap: 2rem; flex-wrap: wrap; }
  .numbers div { font-size: .85rem; color: #555; }
  .numbers b { display: block; font-size: 1.3rem; color: #1d232a; }
  .match { border: 1px solid #d9dde3; border-radius: 6px; margin: .8rem 0; }
  .match > h3 {
    margin: 0;
    padding: .5rem .8rem;
    background: #eef1f5;
    font-size: 1rem;
    display: flex;
    gap: 1rem;
  }
  .score { font-weight: normal; color: #444; }
  .sides { display: grid; grid-template-columns: 1fr 1fr; gap: 0; }
  .side { padding: .5rem .8rem; border-top: 1px solid #d9dde3; min-width: 0; }
  .side + .side { border-left: 1px solid #d9dde3; }
  .side h4 {
    margin: 0 0 .3rem;
    font-size: .85rem;
    color: #555;
    text-transform: uppercase;
    letter-spacing: .03em;
  }
  .text {
    white-space: pre-wrap;
    word-wrap: break-word;
    font: 13px/1.45 ui-monospace, monospace;
    max-height: 22rem;
    overflow: auto;
    margin: 0;
  }
  mark { border-radius: 2px; padding: 0 1px; }
  mark.c0 { background: #ffe08a; } mark.c1 { background: #a8e6b8; } mark.c2 { background: #a9d2ff; }
  mark.c3 { background: #f7b3d2; } mark.c4 { background: #d3c2ff; } mark.c5 { background: #ffc89a; }
  table { border-collapse: collapse; width: 100%; font-size: .85rem; }
  th, td {
    text-align: left;
    padding: .25rem .5rem;
    border-bottom: 1px solid #e3e6ea;
    vertical-align: top;
  }
  details { padding: .3rem .8rem .6rem; border-top: 1px solid #d9dde3; }
  figure { margin: .6rem 0 0; }
  svg.chart { max-width: 680px; width: 100%; height: auto; display: block; }
  .empty { color: #555; font-style: italic; }
"""


def _bins(sizes: Sequence[int]) -> list[tuple[str, int]]:
    """``(label, families)`` per bar: one bar per size up to 30 documents, else one per size up to 10 and
    then bins of a 1-2-5 series (11–20, 21–50, 51–100, …), so a few huge families do not flatten the rest.

    >>> _bins([2, 2, 3, 5])
    [('2', 2), ('3', 1), ('4', 0), ('5', 1)]
    >>> _bins([2, 12, 40, 40, 700])[-6:]
    [('11–20', 1), ('21–50', 2), ('51–100', 0), ('101–200', 0), ('201–500', 0), ('501–1000', 1)]
    """
    counts = np.bincount(np.asarray(sizes, dtype=np.int64), minlength=3)
    top = len(counts) - 1
    if top <= 30:
        return [(str(n), int(counts[n])) for n in range(2, top + 1)]
    bars = [(str(n), int(counts[n])) for n in range(2, 11)]
    low, scale = 10, 10
    while low < top:
        for high in (2 * scale, 5 * scale, 10 * scale):
            bars.append((f"{low + 1}–{high}", int(counts[low + 1 : high + 1].sum())))
            low = high
            if low >= top:
                break
        scale *= 10
    return bars


def _nice_step(largest: int) -> int:
    """A step of the 1-2-5 series that cuts ``0..largest`` into at most 5 intervals (at least 1)."""
    raw = max(largest, 1) / 5
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)


def histogram_svg(sizes: Sequence[int]) -> str:
    """A labelled bar chart, as SVG, of how many families there are of each size (families of two or more).

    Each bar carries its count above it and a tooltip; the y axis has round ticks and grid lines.
    """
    width, height = 680, 300
    left, right, top = 58, 16, 40
    bars = _bins(sizes)
    slot = (width - left - right) / len(bars)
    bar = min(slot * 0.72, 56.0)
    font = 'font-family="system-ui, sans-serif"'
    rotate = max(len(label) for label, _ in bars) * 6.6 > slot * 0.95
    bottom = 84 if rotate else 58
    plot = height - top - bottom
    largest = max(n for _, n in bars)
    step = _nice_step(largest)
    ceiling = step * max(1, math.ceil(largest / step))
    out = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="histogram of copy family sizes" {font}>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="600" '
        'fill="#1d232a">Copy families by size</text>',
    ]
    for tick in range(0, ceiling + 1, step):
        y = top + plot - plot * tick / ceiling
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{"#8a9099" if tick == 0 else "#e3e6ea"}" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#555">{tick:,}</text>'
        )
    for i, (label, n) in enumerate(bars):
        x = left + i * slot
        h = max(plot * n / ceiling, 2.0) if n else 0.0  # a family of its own stays visible
        y = top + plot - h
        middle = x + slot / 2
        noun = "family" if n == 1 else "families"
        out.append(
            f"<g><title>{n:,} {noun} of {label} documents</title>"
            f'<rect x="{middle - bar / 2:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
            'fill="#2f6fdb" rx="2"/></g>'
        )
        if n:
            out.append(
                f'<text x="{middle:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="10" '
                f'fill="#1d232a">{n:,}</text>'
            )
        base = top + plot + 15
        if rotate:
            out.append(
                f'<text x="{middle:.1f}" y="{base:.1f}" text-anchor="end" font-size="11" fill="#555" '
                f'transform="rotate(-40 {middle:.1f} {base:.1f})">{label}</text>'
            )
        else:
            out.append(
                f'<text x="{middle:.1f}" y="{base:.1f}" text-anchor="middle" font-size="11" '
                f'fill="#555">{label}</text>'
            )
    if not sizes:
        out.append(
            f'<text x="{left + (width - left - right) / 2}" y="{top + plot / 2}" text-anchor="middle" '
            'font-size="13" fill="#555" font-style="italic">no family of two or more documents</text>'
        )
    out.append(
        f'<text x="{left + (width - left - right) / 2}" y="{height - 8}" text-anchor="middle" '
        'font-size="12" fill="#1d232a">documents in the family</text>'
        f'<text x="16" y="{top + plot / 2}" text-anchor="middle" font-size="12" fill="#1d232a" '
        f'transform="rotate(-90 16 {top + plot / 2})">families</text></svg>'
    )
    return "\n".join(out)


def marked(text: str, spans: Sequence[tuple[int, int]], limit: int = MAX_CHARS, lead: int = LEAD) -> str:
    """``text`` as HTML with the passages ``spans`` in ``<mark>``, shown from ``lead`` characters before the
    first passage (at a word break, with a note of what comes before), ``limit`` characters at most: a
    reader sees the shared passage first, however far into the text it is.

    >>> marked("a <b> c", [(2, 5)])
    'a <mark class="c0">&lt;b&gt;</mark> c'
    >>> marked("intro words here. The copied passage.", [(18, 37)], lead=6)
    '… (18 characters before)\\n<mark class="c0">The copied passage.</mark>'
    """
    merged: list[list[int]] = []
    for a, b in sorted(spans):
        if b <= a:
            continue
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    begin = 0
    if merged and merged[0][0] > lead:
        first = merged[0][0]
        begin = first - lead
        gap = next((i for i in range(begin, first) if text[i].isspace()), None)
        begin = first if gap is None else gap + 1
        while begin < first and text[begin].isspace():
            begin += 1
    end = begin + limit
    out = [f"… ({begin:,} characters before)\n"] if begin else []
    at = begin
    for n, (a, b) in enumerate(merged):
        a, b = min(max(a, at), end), min(b, end)
        out.append(html.escape(text[at:a], quote=False))
        if b > a:
            out.append(f'<mark class="c{n % 6}">{html.escape(text[a:b], quote=False)}</mark>')
        at = max(at, b)
    out.append(html.escape(text[at:end], quote=False))
    if len(text) > end:
        out.append(f"\n… ({len(text) - end:,} more characters)")
    return "".join(out)


def write_report(
    path: Path,
    summary: dict[str, Any],
    ids: Sequence[str],
    labels: np.ndarray,
    sizes: np.ndarray,
    texts: Texts,
    edges: Callable[[], Iterator[pa.Table]],
) -> Path:
    """Write the report of a cluster job (``edges()`` yields the kept edges, documents by number)."""
    multi = np.flatnonzero(sizes >= 2)
    roots, counts = np.unique(labels[multi], return_counts=True) if len(multi) else (multi, multi)
    chart = histogram_svg(counts.tolist())
    (path.parent / "family-sizes.svg").write_text(chart + "\n", encoding="utf-8")
    top = roots[np.lexsort((roots, -counts))][:SHOWN] if len(roots) else roots
    shown = set(top.tolist())
    members: dict[int, list[int]] = {int(r): [] for r in top.tolist()}
    for i in multi.tolist():
        root = int(labels[i])
        if root in shown:
            members[root].append(i)
    family_edges: dict[int, list[dict[str, Any]]] = {int(r): [] for r in top.tolist()}
    for table in edges():
        if not table.num_rows:
            continue
        a = arrow.numbers(table.column("a"), np.int64)  # not np.asarray: pyarrow's would import pandas
        pick = np.flatnonzero(np.isin(labels[a], top))
        for row in table.take(arrow.numeric(pick)).to_pylist():
            family_edges[int(labels[row["a"]])].append(row)
    sections = [_family(members[int(r)], family_edges[int(r)], ids, texts) for r in top.tolist()]
    numbers = [
        ("documents", summary["documents"]),
        ("families (2+ documents)", summary["families"]),
        ("documents in families", summary["documents_in_families"]),
        ("largest family", summary["largest_family"]),
        ("edges kept", summary["edges"]),
        ("links", summary["link"]),
        ("bad records", summary["bad_records"]),
    ]
    body = "".join(
        f"<div><b>{html.escape(f'{v:,}' if isinstance(v, int) else str(v))}</b>{k}</div>" for k, v in numbers
    )
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>copytrace cluster report</title>
<style>{_STYLE}</style>
</head>
<body>
<header><h1>copytrace cluster</h1><span class="hint">Copy families found in the corpus, largest first, with
the passages their members share.</span></header>
<main>
<section><div class="numbers">{body}</div>
<figure>{chart}</figure></section>
<section><h2>The {len(top)} largest families</h2>
{"".join(sections) or NO_FAMILY}
</section>
</main>
</body>
</html>
"""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path


def _family(members: list[int], edges: list[dict[str, Any]], ids: Sequence[str], texts: Texts) -> str:
    earliest = min(members)
    full = {m: texts.text(m) for m in members[: MAX_MEMBERS * 4]}
    complete = max(full, key=lambda m: (len(full[m]), -m))
    other = complete if complete != earliest else _best_partner(earliest, edges, members)
    left, right = _passages(earliest, other, edges)
    best: dict[int, dict[str, Any]] = {}
    for e in edges:
        for me in (e["a"], e["b"]):
            if me not in best or e["score"] > best[me]["score"]:
                best[me] = e
    rows = []
    for m in sorted(members)[:MAX_MEMBERS]:
        found = best.get(m)
        link = ""
        if found is not None:
            e = found
            partner = e["b"] if e["a"] == m else e["a"]
            mine, theirs = (
                (e["a_containment"], e["b_containment"])
                if e["a"] == m
                else (e["b_containment"], e["a_containment"])
            )
            link = f"{html.escape(ids[partner])}: {mine:.0%} of it is in there, {theirs:.0%} of that is in it"
        role = "earliest" if m == earliest else "most complete" if m == complete else ""
        size = len(full.get(m, ""))
        rows.append(f"<tr><td>{html.escape(ids[m])}</td><td>{role}</td><td>{size:,}</td><td>{link}</td></tr>")
    more = (
        f"<p class='empty'>… and {len(members) - MAX_MEMBERS} more</p>" if len(members) > MAX_MEMBERS else ""
    )
    title_other = "most complete" if other == complete else "closest copy"
    left_text = marked(full[earliest], left)
    right_text = marked(full.get(other) or texts.text(other), right)
    head = "<tr><th>id</th><th></th><th>characters</th><th>strongest link</th></tr>"
    return f"""<div class="match">
<h3>{len(members)} documents <span class="score">named by {html.escape(ids[earliest])}; most complete:
{html.escape(ids[complete])}</span></h3>
<div class="sides">
<div class="side"><h4>earliest: {html.escape(ids[earliest])}</h4><pre class="text">{left_text}</pre></div>
<div class="side"><h4>{title_other}: {html.escape(ids[other])}</h4><pre class="text">{right_text}</pre></div>
</div>
<details open><summary>members</summary><table>{head}
{"".join(rows)}</table>{more}</details>
</div>
"""


def _best_partner(number: int, edges: list[dict[str, Any]], members: list[int]) -> int:
    linked = [e for e in edges if number in (e["a"], e["b"])]
    if not linked:
        return next((m for m in members if m != number), number)
    e = max(linked, key=lambda e: e["score"])
    return int(e["b"] if e["a"] == number else e["a"])


def _passages(
    x: int, y: int, edges: list[dict[str, Any]]
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The passages of ``x`` and of ``y`` that the edge between them shows, else those of their other
    edges."""
    for e in edges:
        if {e["a"], e["b"]} == {x, y}:
            a_side = [(s["a_start"], s["a_end"]) for s in e["spans"] if s["a_start"] is not None]
            b_side = [(s["b_start"], s["b_end"]) for s in e["spans"] if s["b_start"] is not None]
            return (a_side, b_side) if e["a"] == x else (b_side, a_side)

    def of(n: int) -> list[tuple[int, int]]:
        out = []
        for e in edges:
            for s in e["spans"]:
                if e["a"] == n and s["a_start"] is not None:
                    out.append((s["a_start"], s["a_end"]))
                elif e["b"] == n and s["b_start"] is not None:
                    out.append((s["b_start"], s["b_end"]))
        return out

    return of(x), of(y)
