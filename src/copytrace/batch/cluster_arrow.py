"""Arrow arrays of a ``cluster`` job's columns built from their buffers, and numpy arrays read from them.

pyarrow's own conversions (``pa.array``, ``to_numpy``, ``np.asarray`` of a column, ``Table.from_pylist``,
``Schema.empty_table``) import pandas the first time they run, where it is installed, to ask whether the
value is a pandas object: 0.26 s of CPU and 45 MB on a quiet machine (``pq.read_table``'s dataset module
imports it too), 6% of a 2,000-document job's CPU.  A cluster job's columns are plain (numbers without
nulls, UTF-8 strings, lists and structs of them), so here they are made and read through their buffers,
which imports nothing.  Each function gives what its pyarrow counterpart gives
(``tests/test_cluster_arrow.py`` compares them).

>>> import numpy as np
>>> column = numeric(np.array([3, 1, 2]))
>>> column.to_pylist(), numbers(column, np.int64).tolist()
([3, 1, 2], [3, 1, 2])
>>> strings(["a", "é"]).to_pylist()
['a', 'é']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["bools", "empty", "numbers", "numeric", "optional_ints", "strings", "table"]


def _arrow_type(dtype: np.dtype[Any]) -> pa.DataType:
    import pyarrow as pa

    types = {
        np.dtype(np.int32): pa.int32(),
        np.dtype(np.int64): pa.int64(),
        np.dtype(np.uint64): pa.uint64(),
        np.dtype(np.float64): pa.float64(),
    }
    if dtype not in types:
        raise TypeError(f"no Arrow column of numpy {dtype}: use int32, int64, uint64 or float64")
    return types[dtype]


def numeric(values: np.ndarray | Sequence[int] | Sequence[float], dtype: Any = np.int64) -> pa.Array:
    """The numbers ``values`` as an Arrow array of ``dtype`` (int32, int64, uint64 or float64)."""
    import pyarrow as pa

    x = np.ascontiguousarray(values, dtype=dtype)
    return pa.Array.from_buffers(_arrow_type(x.dtype), len(x), [None, pa.py_buffer(x)])


def optional_ints(values: Sequence[int | None]) -> pa.Array:
    """``values`` as an Arrow int64 array, ``None`` a null."""
    import pyarrow as pa

    valid = np.fromiter((v is not None for v in values), dtype=bool, count=len(values))
    x = np.fromiter((0 if v is None else v for v in values), dtype=np.int64, count=len(values))
    if valid.all():
        return pa.Array.from_buffers(pa.int64(), len(x), [None, pa.py_buffer(x)])
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(
        pa.int64(), len(x), [bitmap, pa.py_buffer(x)], null_count=int(len(x) - valid.sum())
    )


def bools(mask: np.ndarray | Sequence[bool]) -> pa.Array:
    """``mask`` as an Arrow boolean array (bit-packed)."""
    import pyarrow as pa

    m = np.asarray(mask, dtype=bool)
    return pa.Array.from_buffers(pa.bool_(), len(m), [None, pa.py_buffer(np.packbits(m, bitorder="little"))])


def strings(texts: Sequence[str], *, large: bool = False) -> pa.Array:
    """``texts`` as an Arrow ``string`` (or ``large_string``) array.  A text that is not Unicode (a lone
    surrogate) raises ``UnicodeEncodeError``, as ``pa.array`` does."""
    import pyarrow as pa

    encoded = [t.encode("utf-8") for t in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), out=offsets[1:])
    if not large:
        if offsets[-1] > np.iinfo(np.int32).max:
            raise ValueError(f"{offsets[-1]:,} bytes of text: more than an Arrow string column holds")
        offsets = offsets.astype(np.int32)
    kind = pa.large_string() if large else pa.string()
    return pa.Array.from_buffers(
        kind, len(encoded), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    )


def table(columns: Sequence[pa.Array], schema: pa.Schema) -> pa.Table:
    """A table of ``columns`` (in the order of ``schema``'s fields)."""
    import pyarrow as pa

    return pa.Table.from_arrays(list(columns), schema=schema)


def empty(schema: pa.Schema) -> pa.Table:
    """A table of ``schema`` with no row."""
    import pyarrow as pa

    return pa.Table.from_batches([], schema=schema)


def numbers(column: pa.Array | pa.ChunkedArray, dtype: Any) -> np.ndarray:
    """A numeric or boolean Arrow column (no nulls) as a new, writable numpy array of ``dtype``."""
    import pyarrow as pa

    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    parts = [_chunk(c) for c in chunks if len(c)]
    if not parts:
        return np.zeros(0, dtype=dtype)
    joined = np.concatenate(parts) if len(parts) > 1 else parts[0]  # each part is a copy already
    return joined.astype(dtype, copy=False)


def _chunk(chunk: pa.Array) -> np.ndarray:
    import pyarrow as pa

    if chunk.null_count:
        raise ValueError(f"a column of {chunk.type} with {chunk.null_count} null(s) has no numpy form here")
    data = chunk.buffers()[1]
    n, at = len(chunk), chunk.offset
    if pa.types.is_boolean(chunk.type):
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little", count=at + n)
        return bits[at:].astype(bool)
    native = {
        pa.int32(): np.int32,
        pa.int64(): np.int64,
        pa.uint64(): np.uint64,
        pa.float64(): np.float64,
    }.get(chunk.type)
    if native is None:
        raise TypeError(f"no numpy form here for an Arrow column of {chunk.type}")
    size = np.dtype(native).itemsize
    return np.frombuffer(data, dtype=native, count=n, offset=at * size).copy()
