"""``cluster_arrow``: the columns a cluster job builds from buffers equal pyarrow's own conversions, and a job
run in process imports neither pandas nor pyarrow's dataset module (about a second of a small job)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from copytrace.batch import cluster_arrow as arrow
from copytrace.batch.cluster_files import edge_part_schema, fingerprint_schema, read_part
from copytrace.batch.cluster_steps import ClusterSettings, edge_table, fingerprint_block
from copytrace.batch.clustering import Edge
from copytrace.batch.inputs import expand, plan
from copytrace.index.match import Span

from .cluster_corpus_files import small_corpus

INT64 = st.integers(-(2**63), 2**63 - 1)
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)


@pytest.mark.parametrize(
    ("dtype", "kind", "values"),
    [
        (np.int64, pa.int64(), st.lists(INT64, max_size=50)),
        (np.int32, pa.int32(), st.lists(st.integers(-(2**31), 2**31 - 1), max_size=50)),
        (np.uint64, pa.uint64(), st.lists(st.integers(0, 2**64 - 1), max_size=50)),
        (np.float64, pa.float64(), st.lists(st.floats(allow_nan=False), max_size=50)),
    ],
    ids=["int64", "int32", "uint64", "float64"],
)
def test_numeric_columns_equal_pa_array_and_read_back(
    dtype: type, kind: pa.DataType, values: st.SearchStrategy[list[float]]
) -> None:
    @settings(max_examples=50, deadline=None)
    @given(values, st.integers(0, 3))
    def check(xs: list[float], cut: int) -> None:
        made = arrow.numeric(np.array(xs, dtype=dtype), dtype)
        assert made.equals(pa.array(xs, kind))
        chunked = pa.chunked_array([pa.array(xs[:cut], kind), pa.array(xs[cut:], kind)], kind)
        back = arrow.numbers(chunked, dtype)
        assert back.dtype == np.dtype(dtype) and back.flags.writeable
        np.testing.assert_array_equal(back, chunked.to_numpy())
        sliced = pa.array(xs, kind)[cut:]  # an array with an offset into its buffer
        np.testing.assert_array_equal(arrow.numbers(sliced, dtype), sliced.to_numpy())

    check()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.booleans(), max_size=70), st.integers(0, 20))
def test_boolean_columns_equal_pa_array_and_read_back_at_any_offset(mask: list[bool], cut: int) -> None:
    assert arrow.bools(np.array(mask, dtype=bool)).equals(pa.array(mask, pa.bool_()))
    sliced = pa.array(mask, pa.bool_())[cut:]
    back = arrow.numbers(sliced, bool)
    assert back.dtype == np.dtype(bool)
    assert back.tolist() == mask[cut:]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), INT64), max_size=40))
def test_optional_ints_equal_pa_array_with_nulls(values: list[int | None]) -> None:
    assert arrow.optional_ints(values).equals(pa.array(values, pa.int64()))


@settings(max_examples=100, deadline=None)
@given(st.lists(TEXT, max_size=30), st.booleans())
def test_strings_equal_pa_array(texts: list[str], large: bool) -> None:
    kind = pa.large_string() if large else pa.string()
    made = arrow.strings(texts, large=large)
    assert made.equals(pa.array(texts, kind))
    made.validate(full=True)


def test_a_text_that_is_not_unicode_fails_as_pa_array_does() -> None:
    with pytest.raises(UnicodeEncodeError):
        pa.array(["ok", "\ud800"], pa.string())
    with pytest.raises(UnicodeEncodeError):
        arrow.strings(["ok", "\ud800"])


def test_reading_refuses_nulls_and_other_types() -> None:
    with pytest.raises(ValueError, match="null"):
        arrow.numbers(pa.array([1, None], pa.int64()), np.int64)
    with pytest.raises(TypeError, match="int16"):
        arrow.numbers(pa.array([1], pa.int16()), np.int64)
    with pytest.raises(TypeError, match="int8"):
        arrow.numeric(np.array([1], dtype=np.int8), np.int8)


def test_empty_tables_and_columns() -> None:
    assert arrow.empty(fingerprint_schema()).equals(fingerprint_schema().empty_table())
    assert arrow.numbers(pa.chunked_array([], pa.int64()), np.int64).tolist() == []


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 10**6),
            st.integers(0, 10**6),
            st.floats(0, 1),
            st.floats(0, 1),
            st.lists(
                st.tuples(
                    st.integers(0, 10**5), st.integers(0, 10**5), st.one_of(st.none(), st.integers(0, 10**5))
                ),
                max_size=4,
            ),
            st.booleans(),
        ),
        max_size=20,
    )
)
def test_an_edges_part_equals_the_one_made_from_rows(rows: list) -> None:  # type: ignore[type-arg]
    """The part is the table ``Table.from_pylist`` made of the same rows before (spans without the item's
    offsets included)."""
    edges = [
        Edge(
            a,
            b,
            max(x, y),
            x,
            y,
            tuple(Span(q0, q1, i0, None if i0 is None else i0 + 1) for q0, q1, i0 in spans),
        )
        for a, b, x, y, spans, _ in rows
    ]
    sides = [side for *_, side in rows]
    expected = pa.Table.from_pylist(
        [
            {
                "a": e.a,
                "b": e.b,
                "score": round(e.score, 6),
                "a_containment": round(e.a_containment, 6),
                "b_containment": round(e.b_containment, 6),
                "spans": [
                    {
                        "a_start": s.query_start,
                        "a_end": s.query_end,
                        "b_start": s.item_start,
                        "b_end": s.item_end,
                    }
                    for s in e.spans
                ],
                "from_a": side,
            }
            for e, side in zip(edges, sides, strict=True)
        ],
        schema=edge_part_schema(),
    )
    made = edge_table(edges, sides)
    made.validate(full=True)
    assert made.equals(expected)


def test_a_fingerprint_part_equals_the_one_made_by_pyarrow(tmp_path: Path) -> None:
    corpus = small_corpus()
    path = tmp_path / "docs.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for i, text in zip(corpus.ids[:40], corpus.texts[:40], strict=True):
            fh.write(json.dumps({"id": i, "text": text}) + "\n")
    [block] = plan(expand([str(path)]))
    part, stats = fingerprint_block(block, ClusterSettings(), None)
    (tmp_path / "part.parquet").write_bytes(part)
    table = read_part(tmp_path / "part.parquet")
    assert table.equals(pq.read_table(tmp_path / "part.parquet"))
    assert stats["documents"] == 40 == table.num_rows
    assert table.column("id").to_pylist() == corpus.ids[:40]
    assert table.column("text").to_pylist() == corpus.texts[:40]
    rows = table.column("row").to_pylist()
    assert rows == pa.array(rows, pa.int64()).to_pylist() and rows == list(range(1, 41))


def test_a_job_in_process_imports_neither_pandas_nor_pyarrow_dataset(tmp_path: Path) -> None:
    """pyarrow imports pandas on its first conversion, and ``pq.read_table`` its dataset module: together
    about a second of a 2,000-document job; the job makes and reads its columns without them."""
    corpus = small_corpus()
    path = tmp_path / "docs.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for i, text in zip(corpus.ids, corpus.texts, strict=True):
            fh.write(json.dumps({"id": i, "text": text}) + "\n")
    script = f"""
import sys
from pathlib import Path
from copytrace.batch.cluster import ClusterSettings, run_cluster
result = run_cluster([{str(path)!r}], Path({str(tmp_path / "out")!r}), settings=ClusterSettings(), key=None)
assert result.summary["executor"] == "process", result.summary["executor"]
print(sorted(m for m in ("pandas", "pyarrow.dataset", "ray") if m in sys.modules))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout
    assert (tmp_path / "out" / "report.html").exists()
