"""``report.html`` of a cluster job: drawn without matplotlib (``cluster`` needs only the ``ray`` extra), a
labelled histogram, and each family's texts shown from their shared passage, however far into the text."""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from copytrace.batch.report import LEAD, MAX_CHARS, _bins, histogram_svg, write_report

pa = pytest.importorskip("pyarrow")

SVG = "{http://www.w3.org/2000/svg}"
SUMMARY = {
    "documents": 3,
    "families": 1,
    "documents_in_families": 2,
    "largest_family": 2,
    "edges": 1,
    "link": "partial",
    "bad_records": 0,
}


class _Texts:
    def __init__(self, texts: list[str]) -> None:
        self.texts = texts

    def text(self, number: int) -> str:
        return self.texts[number]


def _job(texts: list[str], tmp_path: Path, spans: list[dict[str, int]]) -> str:
    """The report of a corpus whose documents 0 and 1 are one family linked by ``spans``."""
    labels = np.array([0, 0, 2], dtype=np.int64)
    sizes = np.array([2, 2, 1], dtype=np.int64)
    edge = {"a": 0, "b": 1, "score": 1.0, "a_containment": 1.0, "b_containment": 0.1, "spans": spans}

    def edges() -> Any:
        yield pa.Table.from_pylist([edge])

    page = write_report(
        tmp_path / "report.html", SUMMARY, ["first", "long", "alone"], labels, sizes, _Texts(texts), edges
    )
    return page.read_text(encoding="utf-8")


def _panels(page: str) -> list[str]:
    return re.findall(r'<pre class="text">(.*?)</pre>', page, flags=re.S)


def test_the_report_is_written_without_matplotlib(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_union: dict[str, str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as after pip install ".[ray]": not importable
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    passage = next(iter(state_union.values()))[:2000]
    page = _job(
        [passage, passage + " and more", "unrelated"],
        tmp_path,
        [{"a_start": 0, "a_end": 2000, "b_start": 0, "b_end": 2000}],
    )
    assert "<svg" in page and "<mark" in page
    chart = (tmp_path / "family-sizes.svg").read_text(encoding="utf-8")
    assert ET.fromstring(chart).tag == f"{SVG}svg"


def test_the_most_complete_text_opens_at_the_shared_passage(
    tmp_path: Path, state_union: dict[str, str]
) -> None:
    speeches = list(state_union.values())
    passage = speeches[0][:1500]
    before = speeches[1][:12_000]  # unrelated text: the longer copy quotes the passage far down
    assert len(before) > MAX_CHARS
    longer = f"{before}\n\n{passage}\n\n{speeches[2][:8000]}"
    at = longer.index(passage)
    page = _job(
        [passage, longer, "unrelated"],
        tmp_path,
        [{"a_start": 0, "a_end": len(passage), "b_start": at, "b_end": at + len(passage)}],
    )
    earliest, complete = _panels(page)
    assert earliest.startswith("<mark")  # the passage is where the earliest text starts
    note = re.match(r"… \(([\d,]+) characters before\)\n", complete)
    assert note is not None, complete[:300]
    skipped = int(note.group(1).replace(",", ""))
    assert at - LEAD <= skipped <= at
    assert complete.index("<mark") <= len(note.group(0)) + LEAD  # on screen when the panel opens
    shown = re.search(r"<mark[^>]*>(.*?)</mark>", complete, flags=re.S)
    assert shown is not None and shown.group(1).startswith(
        passage[:200].replace("&", "&amp;").replace("<", "&lt;")
    )
    assert longer[skipped:at].strip() and "\n… (" in complete  # some context before it, the rest cut


def _bars(chart: str) -> list[tuple[str, float]]:
    root = ET.fromstring(chart)
    return [
        (g.findtext(f"{SVG}title") or "", float(g.find(f"{SVG}rect").get("height")))  # type: ignore[union-attr]
        for g in root.iter(f"{SVG}g")
    ]


@pytest.mark.parametrize(
    ("sizes", "labels"),
    [
        ([2, 2, 2, 3, 5], ["2", "3", "4", "5"]),
        (
            [2, 3, 3, 40, 700],
            [*map(str, range(2, 11)), "11–20", "21–50", "51–100", "101–200", "201–500", "501–1000"],
        ),
    ],
    ids=["small", "long tail"],
)
def test_the_histogram_has_a_labelled_bar_per_size_or_bin(sizes: list[int], labels: list[str]) -> None:
    chart = histogram_svg(sizes)
    root = ET.fromstring(chart)
    words = [t.text for t in root.iter(f"{SVG}text")]
    assert "Copy families by size" in words and "documents in the family" in words and "families" in words
    assert [label for label, _ in _bins(sizes)] == labels
    assert all(label in words for label in labels)  # every bar named on the x axis
    bars = _bars(chart)
    assert len(bars) == len(labels)
    heights = {title.split(" of ")[1].removesuffix(" documents"): h for title, h in bars}
    counts = {label: n for label, n in _bins(sizes)}
    tallest = max(counts.values())
    for label, n in counts.items():
        assert (heights[label] > 0) == (n > 0)
        if n == tallest:
            assert heights[label] == max(heights.values())
    assert "0" in words  # the y axis starts at zero


def test_an_empty_histogram_says_so() -> None:
    root = ET.fromstring(histogram_svg([]))
    assert "no family of two or more documents" in [t.text for t in root.iter(f"{SVG}text")]
