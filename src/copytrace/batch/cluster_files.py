"""What a ``cluster`` job writes: the schemas of its parts and outputs, and the text file its workers map.

A job's parts (``markers.JobDir``) and outputs are Parquet (or JSON Lines) tables of the schemas here; every
document's text goes into one ``TextFile`` that the edges pass maps to measure the shared passages in both
texts of an edge.  The file is written straight from the Arrow buffers of the fingerprint parts (their text
column is already UTF-8 with offsets): no document's text becomes a Python string on the driver.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import cluster_arrow as arrow

if TYPE_CHECKING:
    import pyarrow as pa

    from ..fingerprints.batch import FingerprintBatch
    from ..fingerprints.fingerprint import FingerprintParams


def fingerprint_schema() -> pa.Schema:
    """A fingerprint part: each document's id, where it came from, its fingerprint and its text."""
    import pyarrow as pa

    return pa.schema(
        [
            ("id", pa.string()),
            ("file", pa.string()),
            ("row", pa.int64()),
            ("n_tokens", pa.int64()),
            ("hashes", pa.list_(pa.uint64())),
            ("positions", pa.list_(pa.int64())),
            ("text", pa.large_string()),
        ]
    )


def fingerprint_batch(table: pa.Table, params: FingerprintParams) -> FingerprintBatch:
    """The fingerprints of a fingerprint part (``n_tokens``, ``hashes``, ``positions``) as one batch."""
    from ..fingerprints.batch import FingerprintBatch

    if not table.num_rows:
        return FingerprintBatch(
            params,
            np.zeros(0, np.uint64),
            np.zeros(0, np.int64),
            np.zeros(1, np.int64),
            np.zeros(0, np.int64),
        )
    hashes = table.column("hashes").combine_chunks()
    positions = table.column("positions").combine_chunks()
    # copies (``numbers``): Arrow's buffers are read-only, and the compiled kernels are cached for writable
    # arrays
    return FingerprintBatch(
        params,
        arrow.numbers(hashes.values, np.uint64),
        arrow.numbers(positions.values, np.int64),
        arrow.numbers(hashes.offsets, np.int64),
        arrow.numbers(table.column("n_tokens"), np.int64),
    )


def read_part(path: str | Path, columns: list[str] | None = None) -> pa.Table:
    """The ``columns`` of the part (a Parquet file) at ``path``.  One file, read as one (``ParquetFile``):
    ``pq.read_table`` opens it as a dataset, whose module (and pandas, which it imports) costs 0.27 s of CPU
    to import."""
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as part:
        return part.read(columns=columns)


def _span_type() -> pa.DataType:
    import pyarrow as pa

    return pa.struct(
        [("a_start", pa.int64()), ("a_end", pa.int64()), ("b_start", pa.int64()), ("b_end", pa.int64())]
    )


def edge_part_schema() -> pa.Schema:
    """An edges part: documents by number, and whether the edge was found from ``a``'s side."""
    import pyarrow as pa

    return pa.schema(
        [
            ("a", pa.int64()),
            ("b", pa.int64()),
            ("score", pa.float64()),
            ("a_containment", pa.float64()),
            ("b_containment", pa.float64()),
            ("spans", pa.list_(_span_type())),
            ("from_a", pa.bool_()),
        ]
    )


def edge_schema() -> pa.Schema:
    """A row of ``edges.parquet``: the two documents by id."""
    import pyarrow as pa

    return pa.schema(
        [
            ("a", pa.string()),
            ("b", pa.string()),
            ("score", pa.float64()),
            ("a_containment", pa.float64()),
            ("b_containment", pa.float64()),
            ("spans", pa.list_(_span_type())),
        ]
    )


def cluster_schema() -> pa.Schema:
    """A row of ``clusters.parquet``: a document, its family (the id of its first document) and its size."""
    import pyarrow as pa

    return pa.schema([("id", pa.string()), ("cluster", pa.string()), ("cluster_size", pa.int64())])


class TextFile:
    """Every document's text by number, in one file a worker maps: ``n`` (8 bytes), ``n + 1`` offsets, then
    the texts in UTF-8."""

    def __init__(self, path: Path) -> None:
        self._fh = open(path, "rb")  # noqa: SIM115 - kept open with the map
        self._map = mmap.mmap(self._fh.fileno(), 0, access=mmap.ACCESS_READ) if path.stat().st_size else b""
        n = int(np.frombuffer(self._map, dtype=np.int64, count=1)[0])
        self._offsets = np.frombuffer(self._map, dtype=np.int64, count=n + 1, offset=8)
        self._base = 8 * (n + 2)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def close(self) -> None:
        self._offsets = self._offsets[:1].copy()
        if isinstance(self._map, mmap.mmap):
            self._map.close()
        self._fh.close()

    def text(self, number: int) -> str:
        a, b = int(self._offsets[number]), int(self._offsets[number + 1])
        return bytes(self._map[self._base + a : self._base + b]).decode("utf-8")

    @staticmethod
    def write(path: Path, parts: Iterable[pa.ChunkedArray | pa.Array]) -> int:
        """Write the texts of ``parts`` (Arrow string columns, in order) to ``path``; returns how many.  The
        bytes are copied from the columns' own buffers."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        data_path = tmp.with_suffix(".data")
        lengths: list[np.ndarray] = []
        with open(data_path, "wb") as data:
            for column in parts:
                chunks = column.chunks if hasattr(column, "chunks") else [column]
                for chunk in chunks:
                    if len(chunk) == 0:
                        continue
                    offsets, values = _string_buffers(chunk)
                    lengths.append(np.diff(offsets))
                    data.write(memoryview(values)[int(offsets[0]) : int(offsets[-1])])
        sizes = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
        offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        with open(tmp, "wb") as out, open(data_path, "rb") as data:
            out.write(np.array([len(sizes)], dtype=np.int64).tobytes())
            out.write(offsets.tobytes())
            while chunk := data.read(1 << 24):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        data_path.unlink()
        os.replace(tmp, path)
        return len(sizes)


def _string_buffers(chunk: pa.Array) -> tuple[np.ndarray, memoryview]:
    """The offsets (int64, ``len + 1``) and the UTF-8 bytes of a string array (nulls read as empty)."""
    import pyarrow as pa

    if chunk.null_count:
        chunk = chunk.fill_null("")
    if not pa.types.is_large_string(chunk.type):
        chunk = chunk.cast(pa.large_string())
    _, offsets_buf, values_buf = chunk.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[chunk.offset : chunk.offset + len(chunk) + 1]
    values = memoryview(values_buf) if values_buf is not None else memoryview(b"")
    return offsets, values
