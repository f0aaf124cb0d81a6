"""A scan block's rows laid out from their buffers are the table ``pa.Table.from_pylist`` makes, and a
block is scanned and written without importing pandas (a third of a second of every scan's start)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from copytrace.batch.scan_arrow import match_table
from copytrace.batch.scan_step import match_schema

from .conftest import DATA

offsets = st.integers(0, 10**9)
maybe = st.one_of(st.none(), offsets)
span = st.fixed_dictionaries(
    {"query_start": offsets, "query_end": offsets, "item_start": maybe, "item_end": maybe}
)
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
row = st.fixed_dictionaries(
    {
        "query": text,
        "bank": text,
        "item_id": text,
        "score": st.floats(0, 1),
        "query_containment": st.floats(0, 1),
        "item_containment": st.floats(0, 1),
        "spans": st.lists(span, max_size=3),
        "family": text,
        "family_size": st.integers(1, 10**6),
        "kind": st.sampled_from(["text", "quote", "phrase"]),
        "source": st.fixed_dictionaries({"file": text, "row": maybe}),
    },
    optional={"quote": st.fixed_dictionaries({"tokens": st.integers(1, 10**4), "bits": st.floats(0, 10**3)})},
)


@settings(max_examples=150, deadline=None)
@given(st.lists(row, max_size=8))
def test_the_table_is_the_one_from_pylist_makes(rows: list[dict[str, Any]]) -> None:
    made = match_table(rows, match_schema())
    assert made.equals(pa.Table.from_pylist(rows, schema=match_schema()))


def test_a_block_is_scanned_and_written_without_pandas(tmp_path: Path) -> None:
    corpus = tmp_path / "posts.jsonl"
    copy = (DATA / "canonical" / "001_5e32e1b4a13a1b7e.txt").read_text(encoding="utf-8")
    corpus.write_text(json.dumps({"id": "copy", "text": copy}) + "\n", encoding="utf-8")
    code = (
        "import sys\n"
        "import pyarrow as pa, pyarrow.parquet as pq\n"
        "from copytrace import Index\n"
        "from copytrace.batch.inputs import expand, plan\n"
        "from copytrace.batch.scan_step import ScanSettings, scan_block\n"
        "index = Index()\n"
        f"index.add('000', open({str(DATA / 'canonical' / '000_ea7438489bd31fbe.txt')!r}).read(), "
        "bank='news')\n"
        f"(block,) = plan(expand([{str(corpus)!r}]))\n"
        "part, stats = scan_block(index, block, ScanSettings(banks=('news',)))\n"
        "assert 'pandas' not in sys.modules, 'pandas was imported'\n"
        "assert pq.ParquetFile(pa.BufferReader(part)).read().num_rows == 1\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_scan_on_worker_processes_never_imports_pandas(tmp_path: Path, fmt: str) -> None:
    """The whole command, workers included (they are forked: an import there is printed too)."""
    env = {**os.environ, "COPYTRACE_DB": str(tmp_path / "s.db"), "COPYTRACE_CACHE": str(tmp_path / "cache")}
    env.pop("RAY_ADDRESS", None)
    cli = [sys.executable, "-m", "copytrace.cli.main"]
    original = DATA / "canonical" / "000_ea7438489bd31fbe.txt"
    added = subprocess.run(
        [*cli, "bank", "add", "news", str(original)], env=env, capture_output=True, text=True
    )
    assert added.returncode == 0, added.stderr
    copy = (DATA / "canonical" / "001_5e32e1b4a13a1b7e.txt").read_text(encoding="utf-8")
    corpus = tmp_path / "posts.jsonl"
    corpus.write_text(json.dumps({"id": "copy", "text": copy}) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    scan = [
        "scan",
        str(corpus),
        "--out",
        str(out),
        "--format",
        fmt,
        "--executor",
        "processes",
        "--progress",
        "none",
    ]
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "copytrace.cli.main", *scan],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = {
        line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")
    }
    assert {"pandas", "pyarrow.dataset", "ray"} & imported == set()
    assert (out / f"matches.{fmt}").exists()


def test_a_part_written_before_the_quote_column_is_read_with_it_null(tmp_path: Path) -> None:
    """A scan resumed across versions: a finished block's part has no ``quote`` column yet."""
    import pyarrow.parquet as pq

    from copytrace.batch.inputs import Block
    from copytrace.batch.markers import JobDir
    from copytrace.batch.scan import _rows_of

    row = {
        "query": "q",
        "bank": "b",
        "item_id": "i",
        "score": 0.5,
        "query_containment": 0.5,
        "item_containment": 0.5,
        "spans": [{"query_start": 0, "query_end": 9, "item_start": 0, "item_end": 9}],
        "family": "i",
        "family_size": 1,
        "kind": "text",
        "source": {"file": "f.jsonl", "row": 2},
    }
    old_schema = pa.schema([f for f in match_schema() if f.name != "quote"])
    folder = JobDir(tmp_path)
    first, second = Block("jsonl", "f.jsonl", 0, 10), Block("jsonl", "f.jsonl", 10, 20)
    for block in (first, second):
        folder.part(block.key).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist([row], schema=old_schema), folder.part(block.key))
    stats = {first.key: {"lines": 5}, second.key: {"lines": 5}}
    tables = list(_rows_of(folder, [first, second], stats))
    assert [t.schema for t in tables] == [match_schema()] * 2
    assert [t.to_pylist() for t in tables] == [
        [{**row, "quote": None}],
        [{**row, "quote": None, "source": {"file": "f.jsonl", "row": 7}}],  # the second range's lines shift
    ]
